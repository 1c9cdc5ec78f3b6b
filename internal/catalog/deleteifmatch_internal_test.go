package catalog

import (
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzDeleteIfMatch: a DELETE's If-Match field (ADR-150) is accepted
// exactly when it is "*" or one entity tag, and then is that tag as sent
// (W/ kept), which If-None-Match's parser reads as the same one tag; every
// other field is a 400 invalid, never a panic. deleteIfMatch holds for the
// tag of the latest version only.
func FuzzDeleteIfMatch(f *testing.F) {
	for _, s := range []string{`"sales.2"`, `W/"sales.2"`, `*`, `"a", "b"`, `sales.2`, `"x`, ` "sales.2" `, `""`, `*, "a"`, "\"\x80\""} {
		f.Add(s, int64(2))
	}
	f.Fuzz(func(t *testing.T, field string, v int64) {
		tag, err := deleteIfMatchField([]string{field})
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: %v, want invalid", field, err)
			}
			return
		}
		if tag == "*" {
			if strings.Trim(field, " \t") != "*" {
				t.Fatalf("%q read as *", field)
			}
			if deleteIfMatch("sales", tag, v) != nil {
				t.Fatalf("* did not hold")
			}
			return
		}
		strong := strings.TrimPrefix(tag, "W/")
		if match, ok := noneMatch([]string{field}, strong); !match || !ok {
			t.Fatalf("%q accepted as %q, but If-None-Match reads it as (%v, %v)", field, tag, match, ok)
		}
		holds := deleteIfMatch("sales", tag, v) == nil
		if holds != (tag == ETag("sales", v)) {
			t.Fatalf("%q against version %d: holds %v", tag, v, holds)
		}
	})
}

// FuzzGetIfMatch: the If-Match of a dataset GET (ADR-150) never panics;
// it holds only for "*" or a field naming the tag strongly, and a field
// that If-None-Match reads as well-formed strong tags without "*" holds
// for If-Match exactly when it matches for If-None-Match.
func FuzzGetIfMatch(f *testing.F) {
	for _, s := range []string{`"sales.2"`, `W/"sales.2"`, `*`, `"a", "sales.2"`, `sales.2`, `"x`, ` , "sales.2" ,`, `""`} {
		f.Add(s)
	}
	etag := ETag("sales", 2)
	f.Fuzz(func(t *testing.T, field string) {
		holds, ok := ifMatch([]string{field}, etag)
		if !ok {
			return
		}
		if holds && !strings.Contains(field, "*") && !strings.Contains(field, etag) {
			t.Fatalf("%q holds for %s", field, etag)
		}
		if strings.Contains(field, "W/") || strings.Contains(field, "*") {
			return
		}
		if m, wf := noneMatch([]string{field}, etag); wf && m != holds {
			t.Fatalf("%q: If-Match holds %v, If-None-Match matches %v", field, holds, m)
		}
	})
}
