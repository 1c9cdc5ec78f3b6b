package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"lakehouse-go/internal/storage"
)

// listKeys lists every key with prefix after after, a page of limit at a
// time, walking from data/ when full.
func listKeys(t testing.TB, s *Store, prefix, after string, limit int, full bool) []string {
	t.Helper()
	fullWalks = full
	defer func() { fullWalks = false }()
	var keys []string
	for range 1000 {
		page, err := s.List(context.Background(), storage.ListOptions{Prefix: prefix, After: after, Limit: limit})
		if err != nil {
			t.Fatalf("list %q after %q: %v", prefix, after, err)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if page.Next == "" {
			return keys
		}
		after = page.Next
	}
	t.Fatalf("list %q: more than 1000 pages", prefix)
	return nil
}

func seedListStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, k := range []string{
		"_catalog/a/00001.json", "_catalog/a/00002.json", "_catalog/ab/00001.json",
		"_catalog/a+", "_catalog/b/00001.json", "_catalog/b/x/deep", "a/b/c", "a/bc",
		"a-b/c", "a.b", "z", "dir/file", "dir/sub/file",
	} {
		if _, err := s.Put(context.Background(), k, bytes.NewReader([]byte(k)), int64(len(k)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// What storaged never writes: a symbolic link to a directory under data/
	// (the walk from data/ does not follow it, nor may a prefix).
	if err := os.Symlink(filepath.Join(s.data, "dir"), filepath.Join(s.data, "link")); err != nil {
		t.Fatal(err)
	}
	return s
}

// A listing that starts at its prefix's directory lists exactly what the
// walk from data/ lists, for any prefix, after and page size.
func TestListPrefixDirSameKeys(t *testing.T) {
	s := seedListStore(t)
	prefixes := []string{"", "_catalog/", "_catalog/a", "_catalog/a/", "_catalog/a/0000", "_catalog/a/00001.json",
		"_catalog/a/00001.json/", "_catalog/b/x/", "_catalog/c/", "a/", "a/b/", "a/b", "a/b/c/", "a", "link/", "link/file",
		"dir/", "dir/sub/", "dir/file/", "/", "//", "a//", "../", "./a/", "_catalog/./a/", "_catalog/../a/", "nope/x/"}
	afters := []string{"", "_catalog/a/00001.json", "_catalog/a/", "_catalog/", "a/b", "zz"}
	for _, p := range prefixes {
		for _, a := range afters {
			for _, limit := range []int{1, 2, 1000} {
				want := listKeys(t, s, p, a, limit, true)
				got := listKeys(t, s, p, a, limit, false)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("prefix %q after %q limit %d: %q, the walk from data/ lists %q", p, a, limit, got, want)
				}
			}
		}
	}
	if got := listKeys(t, s, "link/", "", 10, false); len(got) != 0 {
		t.Errorf("a symbolic link under data/ was followed: %q", got)
	}
}

// A listing of one dataset's manifests reads that dataset's directory, not
// the directory of every dataset beside it (catalogd lists a dataset's keys
// on every commit; with thousands of datasets that was the whole
// _catalog/ directory read and sorted each time, ADR-131).
func TestListPrefixReadsOnlyItsDirectory(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		k := fmt.Sprintf("_catalog/d%03d/00001.json", i)
		if _, err := s.Put(context.Background(), k, strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var read []string
	testHookWalk = func(dir string) { read = append(read, strings.TrimPrefix(dir, s.data)) }
	defer func() { testHookWalk = nil }()
	keys := listKeys(t, s, "_catalog/d007/", "", 100, false)
	if !reflect.DeepEqual(keys, []string{"_catalog/d007/00001.json"}) {
		t.Fatalf("listed %q", keys)
	}
	if want := []string{"/_catalog/d007"}; !reflect.DeepEqual(read, want) {
		t.Fatalf("listing _catalog/d007/ read the directories %q, want only %q", read, want)
	}
}

// FuzzListPrefix: the listing from the prefix's directory equals the walk
// from data/ for any prefix and after.
func FuzzListPrefix(f *testing.F) {
	for _, seed := range [][2]string{{"_catalog/a/", ""}, {"a/b/", "a/b/c"}, {"../", ""}, {"link/", ""}, {"a//", "a"}, {"_catalog/b/x/", "_catalog/b/"}} {
		f.Add(seed[0], seed[1], 2)
	}
	s := seedListStore(f)
	f.Fuzz(func(t *testing.T, prefix, after string, limit int) {
		limit = 1 + (limit&0xff)%5
		want := listKeys(t, s, prefix, after, limit, true)
		got := listKeys(t, s, prefix, after, limit, false)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("prefix %q after %q limit %d: %q, the walk from data/ lists %q", prefix, after, limit, got, want)
		}
	})
}
