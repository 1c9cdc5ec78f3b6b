package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// RandomBytes returns n random bytes.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Contract runs the Store contract against a fresh, empty store from
// newStore. Every backend and the HTTP client must pass it.
func Contract(t *testing.T, newStore func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("PutGetHead", func(t *testing.T) {
		s := newStore(t)
		for _, tc := range []struct {
			name string
			key  string
			size int
			sz   int64 // size passed to Put; -2 = the real size
		}{
			{"small", "a/b/small.bin", 10, -2},
			{"empty", "empty", 0, -2},
			{"unknown-size", "dir/unknown.bin", 3<<20 + 17, -1},
			{"utf8 and spaces", "ünï cödé/x y?#%.parquet", 100, -2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				data := RandomBytes(tc.size)
				sz := tc.sz
				if sz == -2 {
					sz = int64(len(data))
				}
				info, err := s.Put(ctx, tc.key, bytes.NewReader(data), sz, storage.PutOptions{})
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				if info.Size != int64(len(data)) || info.ETag == "" || info.Key != tc.key {
					t.Fatalf("put info = %+v", info)
				}
				h, err := s.Head(ctx, tc.key)
				if err != nil {
					t.Fatalf("head: %v", err)
				}
				if h.Size != info.Size || h.ETag != info.ETag || h.Modified.IsZero() {
					t.Fatalf("head %+v, put %+v", h, info)
				}
				got := MustGet(t, s, tc.key, storage.Whole)
				if !bytes.Equal(got, data) {
					t.Fatalf("get: %d bytes differ from the %d put", len(got), len(data))
				}
			})
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		i1 := MustPut(t, s, "k", []byte("one"))
		i2 := MustPut(t, s, "k", []byte("two!"))
		if i1.ETag == i2.ETag {
			t.Fatalf("same etag for different content: %s", i1.ETag)
		}
		if got := MustGet(t, s, "k", storage.Whole); string(got) != "two!" {
			t.Fatalf("got %q", got)
		}
		i3 := MustPut(t, s, "k2", []byte("two!"))
		if i3.ETag != i2.ETag {
			t.Fatalf("same content, different etags %s %s", i2.ETag, i3.ETag)
		}
	})

	t.Run("Range", func(t *testing.T) {
		s := newStore(t)
		data := RandomBytes(1000)
		MustPut(t, s, "r", data)
		for _, tc := range []struct {
			off, n int64
			want   []byte
		}{
			{0, 10, data[:10]},
			{990, 0, data[990:]},
			{500, 1, data[500:501]},
			{995, 100, data[995:]},
			{0, 0, data},
		} {
			rc, info, err := s.Get(ctx, "r", storage.GetOptions{Offset: tc.off, Length: tc.n})
			if err != nil {
				t.Fatalf("get %d+%d: %v", tc.off, tc.n, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("get %d+%d: %d bytes, err %v; want %d", tc.off, tc.n, len(got), err, len(tc.want))
			}
			if info.Size != 1000 {
				t.Fatalf("info.Size = %d, want the whole object's 1000", info.Size)
			}
		}
		if _, _, err := s.Get(ctx, "r", storage.GetOptions{Offset: 2000}); !errs.Is(err, errs.Invalid) {
			t.Fatalf("offset past the end: %v, want invalid", err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Head(ctx, "nope"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("head: %v", err)
		}
		if _, _, err := s.Get(ctx, "no/pe", storage.Whole); !errs.Is(err, errs.NotFound) {
			t.Fatalf("get: %v", err)
		}
		if err := s.Delete(ctx, "nope"); err != nil {
			t.Fatalf("delete of a missing key: %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		MustPut(t, s, "d/x", []byte("x"))
		if err := s.Delete(ctx, "d/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Head(ctx, "d/x"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("after delete: %v", err)
		}
		MustPut(t, s, "d/x", []byte("again")) // the key can be written again
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"", "/abs", "a/../b", "..", "nul\x00", "ctl\x01", "tab\tkey", strings.Repeat("k", 1025), "bad\xff"} {
			if _, err := s.Put(ctx, k, strings.NewReader("x"), 1, storage.PutOptions{}); !errs.Is(err, errs.Invalid) {
				t.Errorf("put %q: %v, want invalid", k, err)
			}
			if _, err := s.Head(ctx, k); !errs.Is(err, errs.Invalid) {
				t.Errorf("head %q: %v, want invalid", k, err)
			}
		}
	})

	t.Run("SizeMismatch", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, "short", strings.NewReader("abc"), 10, storage.PutOptions{}); err == nil {
			t.Fatal("a body shorter than its size was stored")
		}
		if _, err := s.Head(ctx, "short"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("after a failed put: %v", err)
		}
	})

	t.Run("CreateOnly", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, "c", strings.NewReader("1"), 1, storage.PutOptions{CreateOnly: true}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Put(ctx, "c", strings.NewReader("2"), 1, storage.PutOptions{CreateOnly: true})
		if !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 412 {
			t.Fatalf("second create-only put: %v (status %d), want conflict 412", err, errs.StatusOf(err))
		}
		if got := MustGet(t, s, "c", storage.Whole); string(got) != "1" {
			t.Fatalf("create-only overwrote: %q", got)
		}
	})

	t.Run("CreateOnlyRefusedUnread", func(t *testing.T) {
		// A create-only write of a key that exists is refused before its
		// body is read (it was read, and on s3 uploaded, whole: 64 MiB
		// here); through HTTP the sockets' buffers may still take some.
		s := newStore(t)
		MustPut(t, s, "cbig", []byte("kept"))
		const n = 64 << 20
		for _, size := range []int64{n, -1} {
			body := newZeros(n)
			_, err := s.Put(ctx, "cbig", body, size, storage.PutOptions{CreateOnly: true})
			if !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 412 {
				t.Fatalf("size %d: create-only put of an existing key: %v (status %d), want conflict 412", size, err, errs.StatusOf(err))
			}
			if read := body.read.Load(); read > 16<<20 {
				t.Errorf("size %d: %d bytes of the refused body were read", size, read)
			}
			if got := MustGet(t, s, "cbig", storage.Whole); string(got) != "kept" {
				t.Fatalf("create-only overwrote: %q", got)
			}
		}
	})

	t.Run("CreateOnlyRace", func(t *testing.T) {
		s := newStore(t)
		for round := 0; round < 5; round++ {
			key := fmt.Sprintf("race/%d", round)
			var wins atomic.Int32
			var winner atomic.Value
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := fmt.Sprintf("writer %d", w)
					_, err := s.Put(ctx, key, strings.NewReader(body), int64(len(body)), storage.PutOptions{CreateOnly: true})
					switch {
					case err == nil:
						wins.Add(1)
						winner.Store(body)
					case errs.Is(err, errs.Conflict):
					default:
						t.Errorf("writer %d: %v", w, err)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d create-only winners, want exactly 1", round, wins.Load())
			}
			if got := MustGet(t, s, key, storage.Whole); string(got) != winner.Load().(string) {
				t.Fatalf("round %d: stored %q, winner wrote %q", round, got, winner.Load())
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"a-b", "a/b", "a/c/d", "a0", "b/x", "b/y", "ba", "z"}
		for _, k := range keys {
			MustPut(t, s, k, []byte(k))
		}
		sort.Strings(keys)
		all := ListKeys(t, s, "", 2)
		if strings.Join(all, ",") != strings.Join(keys, ",") {
			t.Fatalf("list by pages of 2 = %v, want %v", all, keys)
		}
		if got := ListKeys(t, s, "a/", 1); strings.Join(got, ",") != "a/b,a/c/d" {
			t.Fatalf("prefix a/ = %v", got)
		}
		if got := ListKeys(t, s, "b", 100); strings.Join(got, ",") != "b/x,b/y,ba" {
			t.Fatalf("prefix b = %v", got)
		}
		page, err := s.List(ctx, storage.ListOptions{After: "a/b", Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Objects) != 3 || page.Objects[0].Key != "a/c/d" || page.Next != "b/x" {
			t.Fatalf("after a/b limit 3 = %+v", page)
		}
		for _, o := range page.Objects {
			if o.Size != int64(len(o.Key)) || o.ETag == "" || o.Modified.IsZero() {
				t.Fatalf("list entry %+v", o)
			}
		}
		page, err = s.List(ctx, storage.ListOptions{Prefix: "nothing/"})
		if err != nil || len(page.Objects) != 0 || page.Next != "" {
			t.Fatalf("empty list = %+v, %v", page, err)
		}
	})

	// A prefix (or an after) ending in "." or "..", or holding what no key
	// can (an empty segment, a NUL), is still a prefix: the keys that start
	// with it, maybe none. MinIO refuses such names in a listing
	// (XMinioInvalidResourceName), which the s3 backend answered as a 502.
	t.Run("ListDotPrefixes", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"-x", ".env", ".git/config", "a", "d/-", "d/..y", "d/.hidden", "d/.z/w", "d/a", "e",
			"w/ .x", "w/a\\.b", "w/b", "w/x .. y"}
		for _, k := range keys {
			MustPut(t, s, k, []byte(k))
		}
		for _, tc := range []struct {
			prefix, after string
			limit         int
			want          string
		}{
			{".", "", 100, ".env,.git/config"},
			{".", "", 1, ".env,.git/config"},
			{"..", "", 100, ""},
			{"d/.", "", 100, "d/..y,d/.hidden,d/.z/w"},
			{"d/.", "", 1, "d/..y,d/.hidden,d/.z/w"},
			{"d/..", "", 100, "d/..y"},
			{"d/./", "", 100, ""},
			{"d/.z/.", "", 100, ""},
			{"d//", "", 100, ""},
			{"d/\x00", "", 100, ""},
			{"d/.\x01", "", 100, ""},
			{"d/.h\x01", "", 100, ""},
			{"d/", "d/.", 100, "d/..y,d/.hidden,d/.z/w,d/a"},
			{"d/", "d/..", 100, "d/..y,d/.hidden,d/.z/w,d/a"},
			{"", ".", 100, ".env,.git/config,a,d/-,d/..y,d/.hidden,d/.z/w,d/a,e,w/ .x,w/a\\.b,w/b,w/x .. y"},
			{"d/.", "d/.hidden", 100, "d/.z/w"},
			// MinIO also refuses a "." or ".." segment with white space
			// around it, and takes a backslash for a separator too: such
			// a prefix or after still lists what it names (it was a 400 on
			// s3 only).
			{"w/ .", "", 100, "w/ .x"},
			{"w/ .", "", 1, "w/ .x"},
			{"w/. ", "", 100, ""},
			{"w/a\\.", "", 100, "w/a\\.b"},
			{"w/a\\..", "", 100, ""},
			{"w/x .", "", 100, "w/x .. y"},
			{"w/", "w/ .", 100, "w/ .x,w/a\\.b,w/b,w/x .. y"},
			{"w/", "w/ ..", 1, "w/ .x,w/a\\.b,w/b,w/x .. y"},
			{"w/", "w/a\\. ", 100, "w/a\\.b,w/b,w/x .. y"},
			{"", "w/ . ", 100, "w/ .x,w/a\\.b,w/b,w/x .. y"},
		} {
			var got []string
			after := tc.after
			for range 20 {
				page, err := s.List(ctx, storage.ListOptions{Prefix: tc.prefix, After: after, Limit: tc.limit})
				if err != nil {
					t.Fatalf("list prefix %q after %q: %v", tc.prefix, after, err)
				}
				for _, o := range page.Objects {
					got = append(got, o.Key)
				}
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("list prefix %q after %q limit %d = %q, want %q", tc.prefix, tc.after, tc.limit, got, tc.want)
			}
		}
	})

	// A "." segment in a key is the caller's mistake on every backend (the
	// local one keeps keys as paths, MinIO refuses it): 400, not a 502.
	t.Run("DotSegmentKey", func(t *testing.T) {
		s := newStore(t)
		// MinIO also refuses a "." or ".." segment with white space around
		// it or between backslashes, and minio-go a key of only white
		// space: the local backend stored them (so they could never move
		// to MinIO), the s3 one refused them (the white-space key with a
		// 503).
		for _, k := range []string{"a/./b", "./a", "a/.", "a/ ..", "a/. ", " ./b", "a\\..\\b", "a\\.", " ", "\u3000"} {
			if _, err := s.Put(ctx, k, strings.NewReader("x"), 1, storage.PutOptions{}); !errs.Is(err, errs.Invalid) {
				t.Errorf("put %q: %v, want invalid", k, err)
			}
			if _, _, err := s.Get(ctx, k, storage.Whole); !errs.Is(err, errs.Invalid) {
				t.Errorf("get %q: %v, want invalid", k, err)
			}
			if _, err := s.Head(ctx, k); !errs.Is(err, errs.Invalid) {
				t.Errorf("head %q: %v, want invalid", k, err)
			}
		}
	})

	// MinIO keeps a key ending in "/" as the key + "__XLDIR__": a key
	// written with that ending was listed as another key on s3 ("x/"),
	// stored as itself on local. Refused on every backend.
	t.Run("DirSuffixKey", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"x__XLDIR__", "a/b__XLDIR__"} {
			if _, err := s.Put(ctx, k, strings.NewReader("x"), 1, storage.PutOptions{}); !errs.Is(err, errs.Invalid) {
				t.Errorf("put %q: %v, want invalid", k, err)
			}
			if _, err := s.Head(ctx, k); !errs.Is(err, errs.Invalid) {
				t.Errorf("head %q: %v, want invalid", k, err)
			}
		}
		MustPut(t, s, "x__XLDIR__y", []byte("x")) // only the ending is MinIO's
		if keys := ListKeys(t, s, "x", 10); strings.Join(keys, ",") != "x__XLDIR__y" {
			t.Errorf("list: %q", keys)
		}
	})

	// A range past the end names the object's size on every backend
	// (ADR-009's message), also beyond the first byte past it.
	t.Run("RangePastEnd", func(t *testing.T) {
		s := newStore(t)
		MustPut(t, s, "ten", []byte("0123456789"))
		for _, off := range []int64{11, 1000} {
			_, _, err := s.Get(ctx, "ten", storage.GetOptions{Offset: off})
			if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != 416 {
				t.Fatalf("offset %d: %v (status %d), want invalid/416", off, err, errs.StatusOf(err))
			}
			if msg := errs.Message(err); !strings.Contains(msg, "range not satisfiable: the object has 10 bytes") {
				t.Errorf("offset %d: message %q, want it to name the size", off, msg)
			}
		}
	})

	// One object has one modified time whichever way it is asked: HEAD,
	// GET and a listing agree (on s3 the listing said milliseconds, a HEAD
	// or GET whole seconds, so a caller comparing them saw every object
	// change).
	t.Run("ModifiedAgrees", func(t *testing.T) {
		s := newStore(t)
		MustPut(t, s, "m/obj", []byte("hello"))
		h, err := s.Head(ctx, "m/obj")
		if err != nil {
			t.Fatal(err)
		}
		rc, g, err := s.Get(ctx, "m/obj", storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		page, err := s.List(ctx, storage.ListOptions{Prefix: "m/"})
		if err != nil || len(page.Objects) != 1 {
			t.Fatalf("list: %+v %v", page, err)
		}
		l := page.Objects[0]
		if !h.Modified.Equal(g.Modified) || !h.Modified.Equal(l.Modified) || h.Modified.IsZero() {
			t.Errorf("modified: HEAD %s, GET %s, list %s; want one time", h.Modified.Format(time.RFC3339Nano), g.Modified.Format(time.RFC3339Nano), l.Modified.Format(time.RFC3339Nano))
		}
		if h.ETag != g.ETag || h.ETag != l.ETag || h.Size != l.Size {
			t.Errorf("etag/size: HEAD %s/%d, GET %s, list %s/%d", h.ETag, h.Size, g.ETag, l.ETag, l.Size)
		}
	})

	// A range that starts exactly at the end (Offset == size, or a Length
	// on an empty object) is an empty read with the object's info, as
	// Store.Get has it, on every backend and through storaged too (its
	// client turned the HTTP 416 into an error: a caller reading "the rest"
	// of an object it had read whole failed, in process it did not).
	t.Run("RangeAtEnd", func(t *testing.T) {
		s := newStore(t)
		ten := MustPut(t, s, "ten", []byte("0123456789"))
		empty := MustPut(t, s, "empty", nil)
		for _, tc := range []struct {
			key  string
			opts storage.GetOptions
			want storage.ObjectInfo
		}{
			{"ten", storage.GetOptions{Offset: 10}, ten},
			{"ten", storage.GetOptions{Offset: 10, Length: 5}, ten},
			{"empty", storage.GetOptions{Length: 100}, empty},
			{"empty", storage.GetOptions{Offset: 0, Length: 1}, empty},
		} {
			rc, info, err := s.Get(ctx, tc.key, tc.opts)
			if err != nil {
				t.Errorf("%s %+v: %v, want an empty read", tc.key, tc.opts, err)
				continue
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || len(b) != 0 || info.Size != tc.want.Size || info.ETag != tc.want.ETag {
				t.Errorf("%s %+v: %q, %v, info %+v; want empty, size %d etag %s", tc.key, tc.opts, b, err, info, tc.want.Size, tc.want.ETag)
			}
		}
	})

	// ListPages: pagination edges (ADR-084's audit), the same on every
	// backend: a last page of exactly Limit objects has no Next; After at
	// or past the last key is an empty page; After before Prefix lists the
	// whole prefix; After that is no key (a "directory" or a name between
	// keys) starts after it in byte order, where '-' and '!' sort before
	// '/' and '0' after it; pages of 1 list every key once, in order.
	t.Run("ListPages", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"p/a!", "p/a-b", "p/a/b", "p/a/c", "p/a0", "p/b"}
		for _, k := range keys {
			MustPut(t, s, k, []byte("x"))
		}
		MustPut(t, s, "q", []byte("x"))
		list := func(o storage.ListOptions) (string, string) {
			t.Helper()
			page, err := s.List(ctx, o)
			if err != nil {
				t.Fatalf("list %+v: %v", o, err)
			}
			var ks []string
			for _, x := range page.Objects {
				ks = append(ks, x.Key)
			}
			return strings.Join(ks, ","), page.Next
		}
		for _, tc := range []struct {
			o          storage.ListOptions
			keys, next string
		}{
			{storage.ListOptions{Prefix: "p/", Limit: 6}, strings.Join(keys, ","), ""},
			{storage.ListOptions{Prefix: "p/", Limit: 5}, strings.Join(keys[:5], ","), "p/a0"},
			{storage.ListOptions{Prefix: "p/", After: "p/a0", Limit: 1}, "p/b", ""},
			{storage.ListOptions{Prefix: "p/", After: "p/b"}, "", ""},
			{storage.ListOptions{Prefix: "p/", After: "p/zzz"}, "", ""},
			{storage.ListOptions{Prefix: "p/", After: "a"}, strings.Join(keys, ","), ""},
			{storage.ListOptions{Prefix: "p/", After: "p/a/"}, "p/a/b,p/a/c,p/a0,p/b", ""},
			{storage.ListOptions{Prefix: "p/", After: "p/a"}, strings.Join(keys, ","), ""},
			{storage.ListOptions{Prefix: "p/", After: "p/a-a"}, "p/a-b,p/a/b,p/a/c,p/a0,p/b", ""},
			{storage.ListOptions{Prefix: "p/a/", After: "p/a/b"}, "p/a/c", ""},
			{storage.ListOptions{Prefix: "p/a", Limit: 2, After: "p/a-b"}, "p/a/b,p/a/c", "p/a/c"},
			{storage.ListOptions{After: "p/b"}, "q", ""},
		} {
			if k, n := list(tc.o); k != tc.keys || n != tc.next {
				t.Errorf("list %+v: [%s] next %q; want [%s] next %q", tc.o, k, n, tc.keys, tc.next)
			}
		}
		if got := ListKeys(t, s, "p/", 1); strings.Join(got, ",") != strings.Join(keys, ",") {
			t.Errorf("pages of 1: %v", got)
		}
	})

	// ContentType (ADR-084): the type given at Put comes back from Get and
	// Head, on every path (known and unknown size, create-only); none
	// gives storage.DefaultContentType, also after a typed version is
	// replaced (the new version never keeps the old one's type); a list
	// page has none; a bad type is Invalid and stores nothing.
	t.Run("ContentType", func(t *testing.T) {
		s := newStore(t)
		typed := []struct {
			key, ct    string
			size       int64 // -1: unknown
			createOnly bool
		}{
			{"ct/a.csv", "text/csv", 8, false},
			{"ct/b.json", "application/json; charset=utf-8", -1, false},
			{"ct/c.parquet", "application/vnd.apache.parquet", 8, true},
			{"ct/d.bin", "", 8, false},
			{"ct/e.bin", "", -1, true},
		}
		for _, tc := range typed {
			info, err := s.Put(ctx, tc.key, strings.NewReader("a,b\n1,2\n"), tc.size, storage.PutOptions{ContentType: tc.ct, CreateOnly: tc.createOnly})
			if err != nil {
				t.Fatalf("put %s: %v", tc.key, err)
			}
			want := storage.ContentTypeOf(tc.ct)
			if info.ContentType != want {
				t.Errorf("put %s: ContentType %q, want %q", tc.key, info.ContentType, want)
			}
			if h, err := s.Head(ctx, tc.key); err != nil || h.ContentType != want {
				t.Errorf("head %s: %q %v, want %q", tc.key, h.ContentType, err, want)
			}
			rc, g, err := s.Get(ctx, tc.key, storage.Whole)
			if err != nil {
				t.Fatalf("get %s: %v", tc.key, err)
			}
			rc.Close()
			if g.ContentType != want {
				t.Errorf("get %s: %q, want %q", tc.key, g.ContentType, want)
			}
			if rc, g, err = s.Get(ctx, tc.key, storage.GetOptions{Offset: 2, Length: 3}); err != nil || g.ContentType != want {
				t.Errorf("ranged get %s: %q %v, want %q", tc.key, g.ContentType, err, want)
			} else {
				rc.Close()
			}
		}
		// A new version without a type has none, whatever the old one had.
		MustPut(t, s, "ct/a.csv", []byte("plain"))
		if h, err := s.Head(ctx, "ct/a.csv"); err != nil || h.ContentType != storage.DefaultContentType {
			t.Errorf("after an untyped overwrite: %q %v", h.ContentType, err)
		}
		if _, err := s.Put(ctx, "ct/a.csv", strings.NewReader("{}"), 2, storage.PutOptions{ContentType: "application/json"}); err != nil {
			t.Fatal(err)
		}
		if h, err := s.Head(ctx, "ct/a.csv"); err != nil || h.ContentType != "application/json" {
			t.Errorf("after a typed overwrite: %q %v", h.ContentType, err)
		}
		page, err := s.List(ctx, storage.ListOptions{Prefix: "ct/"})
		if err != nil || len(page.Objects) != len(typed) {
			t.Fatalf("list: %+v %v", page, err)
		}
		for _, o := range page.Objects {
			if o.ContentType != "" {
				t.Errorf("list %s: ContentType %q, want none", o.Key, o.ContentType)
			}
		}
		for _, bad := range []string{"text/csv\x01", "text/\x7fcsv", "text/csv; name=\u00e9", " text/csv", "text/" + strings.Repeat("a", storage.MaxContentTypeBytes)} {
			for _, size := range []int64{2, -1} {
				_, err := s.Put(ctx, "ct/bad", strings.NewReader("xx"), size, storage.PutOptions{ContentType: bad})
				if !errs.Is(err, errs.Invalid) {
					t.Errorf("Content-Type %.40q size %d: %v, want invalid", bad, size, err)
				}
			}
		}
		if _, err := s.Head(ctx, "ct/bad"); !errs.Is(err, errs.NotFound) {
			t.Errorf("a refused Put stored something: %v", err)
		}
	})
}

// MustPut stores data at key.
func MustPut(t testing.TB, s storage.Store, key string, data []byte) storage.ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return info
}

// MustGet reads key (a range of it with opts).
func MustGet(t testing.TB, s storage.Store, key string, opts storage.GetOptions) []byte {
	t.Helper()
	rc, _, err := s.Get(context.Background(), key, opts)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

// ListKeys pages through the keys under prefix, limit per page.
func ListKeys(t testing.TB, s storage.Store, prefix string, limit int) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		page, err := s.List(context.Background(), storage.ListOptions{Prefix: prefix, After: after, Limit: limit})
		if err != nil {
			t.Fatalf("list %q after %q: %v", prefix, after, err)
		}
		for _, o := range page.Objects {
			out = append(out, o.Key)
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

// zeros is a body of n zero bytes that counts what is read of it. Atomic:
// over HTTP the transport's write loop may still be reading it after the
// answer (412) came back.
type zeros struct{ n, read atomic.Int64 }

func newZeros(n int64) *zeros { z := &zeros{}; z.n.Store(n); return z }

func (z *zeros) Read(p []byte) (int, error) {
	left := z.n.Load() - z.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), left))
	clear(p[:n])
	z.read.Add(int64(n))
	return n, nil
}
