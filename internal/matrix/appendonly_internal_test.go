package matrix

import (
	"context"
	"testing"

	"lakehouse-go/internal/catalog"
)

// pagedVersions is a catalog that answers only VersionsPage (every other
// method of the nil Service panics), ascending, from vs, and counts the
// versions it listed.
type pagedVersions struct {
	catalog.Service
	vs     []catalog.VersionInfo
	listed int
	pages  int
}

func (p *pagedVersions) VersionsPage(_ context.Context, name string, q catalog.VersionsQuery) (catalog.VersionsResponse, error) {
	res := catalog.VersionsResponse{Name: name, Versions: []catalog.VersionInfo{}}
	limit := min(max(q.Limit, 1), catalog.MaxVersionsLimit)
	for _, v := range p.vs {
		if v.Version <= q.After {
			continue
		}
		if len(res.Versions) == limit {
			res.Next = res.Versions[limit-1].Version
			break
		}
		res.Versions = append(res.Versions, v)
	}
	p.listed += len(res.Versions)
	p.pages++
	return res, nil
}

// TestAppendOnlyVersions: appendOnly lists only the versions after the
// indexed one (pages of them), keeps the index across compact versions
// whose row counts agree, and rebuilds on a replace, a delete, a gap, a
// compaction that changed the row count or files that do not extend the
// indexed ones.
func TestAppendOnlyVersions(t *testing.T) {
	// n versions: 1 creates (10 rows), then appends of 1 row each.
	history := func(n int64, edit func(v *catalog.VersionInfo)) []catalog.VersionInfo {
		vs := make([]catalog.VersionInfo, 0, n)
		rows := int64(10)
		for v := int64(1); v <= n; v++ {
			info := catalog.VersionInfo{Version: v, Mode: catalog.ModeAppend, RowCount: rows}
			if v == 1 {
				info.Mode = catalog.ModeReplace
			}
			edit(&info)
			rows = info.RowCount + 1
			vs = append(vs, info)
		}
		return vs
	}
	keep := func(*catalog.VersionInfo) {}
	files := func(keys ...string) []catalog.File {
		fs := make([]catalog.File, len(keys))
		for i, k := range keys {
			fs[i] = catalog.File{Key: k}
		}
		return fs
	}
	type tc struct {
		name     string
		vs       []catalog.VersionInfo
		have     int64
		oldFiles []string
		d        catalog.Dataset
		want     bool
	}
	at := func(vs []catalog.VersionInfo, v int64) int64 { return vs[v-1].RowCount }
	long := history(2500, keep)
	compacts := history(30, func(v *catalog.VersionInfo) {
		if v.Version == 12 || v.Version == 20 {
			v.Mode, v.RowCount = catalog.ModeCompact, v.RowCount-1
		}
	})
	cases := []tc{
		{"appends, files extend", history(5, keep), 3, []string{"a", "b"}, catalog.Dataset{Version: 5, RowCount: 14, Files: files("a", "b", "c")}, true},
		{"appends, files do not extend", history(5, keep), 3, []string{"a", "b"}, catalog.Dataset{Version: 5, RowCount: 14, Files: files("x", "b", "c")}, false},
		{"compactions between appends", compacts, 10, []string{"a", "b"}, catalog.Dataset{Version: 30, RowCount: at(compacts, 30), Files: files("z")}, true},
		// A compaction of version 4 committed as 7 over the appends 5 and
		// 6: its count is 6's, its files the compacted one then 5's and 6's.
		{"compaction over appends", history(8, func(v *catalog.VersionInfo) {
			if v.Version == 7 {
				v.Mode, v.RowCount = catalog.ModeCompact, v.RowCount-1
			}
		}), 5, []string{"a", "b", "c"}, catalog.Dataset{Version: 8, RowCount: 16, Files: files("z", "b5", "c6", "d8")}, true},
		{"compaction over appends that kept only the compacted rows", history(7, func(v *catalog.VersionInfo) {
			if v.Version == 7 {
				v.Mode, v.RowCount = catalog.ModeCompact, 13
			}
		}), 5, []string{"a", "b", "c"}, catalog.Dataset{Version: 7, RowCount: 13, Files: files("z")}, false},
		{"compaction that lost rows", history(6, func(v *catalog.VersionInfo) {
			if v.Version == 5 {
				v.Mode, v.RowCount = catalog.ModeCompact, v.RowCount-2
			}
		}), 3, []string{"a"}, catalog.Dataset{Version: 6, RowCount: 14, Files: files("z")}, false},
		{"replace", history(6, func(v *catalog.VersionInfo) {
			if v.Version == 5 {
				v.Mode = catalog.ModeReplace
			}
		}), 3, []string{"a"}, catalog.Dataset{Version: 6, RowCount: 15, Files: files("a", "z")}, false},
		{"delete", history(6, func(v *catalog.VersionInfo) { v.Deleted = v.Version == 5 }), 3, []string{"a"}, catalog.Dataset{Version: 6, RowCount: 15, Files: files("a", "z")}, false},
		{"gap", append(history(4, keep), catalog.VersionInfo{Version: 6, Mode: catalog.ModeAppend, RowCount: 15}), 3, []string{"a"},
			catalog.Dataset{Version: 6, RowCount: 15, Files: files("a", "z")}, false},
		{"row count of d disagrees", compacts, 10, []string{"a"}, catalog.Dataset{Version: 30, RowCount: at(compacts, 30) + 1, Files: files("z")}, false},
		{"versions past d ignored", history(9, keep), 3, []string{"a"}, catalog.Dataset{Version: 5, RowCount: 14, Files: files("a", "b")}, true},
		{"2000 appends after the indexed one", long, 500, []string{"a"}, catalog.Dataset{Version: 2500, RowCount: at(long, 2500), Files: files("a", "b")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cat := &pagedVersions{vs: c.vs}
			m := &Matrix{deps: Deps{Catalog: cat}}
			d := c.d
			d.Name = "ds"
			if got := m.appendOnly(context.Background(), "ds", c.have, d, c.oldFiles, at(c.vs, c.have)); got != c.want {
				t.Fatalf("appendOnly = %v, want %v", got, c.want)
			}
			// Only versions after the indexed one are listed (a page may
			// run past d: at most one page's worth beyond).
			if after := int64(len(c.vs)) - c.have; int64(cat.listed) > after {
				t.Fatalf("listed %d versions, %d are after the indexed one", cat.listed, after)
			}
			t.Logf("listed %d versions in %d pages", cat.listed, cat.pages)
		})
	}
}
