package vector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector"
	"lakehouse-go/internal/vector/lhv1"
)

// TestCrashTorture runs a real vectord (and storaged) under concurrent
// upserts, re-upserts and deletes on two indexes, an index dropped and
// created again over and over, and snapshot passes every 150 ms, and kills
// it with SIGKILL, round after round, at a point of one of these kinds:
//
//   - random: any time;
//   - snapshot: while a snapshot is encoded or uploaded (its snap-*.lhv1
//     temp file exists in vectord's directory);
//   - upload: while storaged takes a snapshot in (a put-* temp file
//     of its local backend exists, and vectord's snap-*.lhv1);
//   - rotation: while the log is rewritten behind a snapshot
//     (vectord.wal.tmp exists);
//   - drop: right after a DELETE of the churned index is sent;
//   - load: any time, then again while the restarted vectord loads its
//     snapshots and replays its log.
//
// After each restart: /health is ok and nothing is listed unreadable (no
// index held); every acknowledged upsert is there with its vector and
// metadata exactly, every acknowledged delete and drop stays done, nothing
// else is there (each index's count matches), a write cut by the kill is
// wholly there or wholly absent (one log record), and every LHV1 object in
// storaged decodes whole; then, with no writes, the log is cut back to its
// header by the next snapshot passes (it stalled behind a dropped and
// re-created index: TestRecreatedIndexDoesNotStallTruncation).
// LH_TORTURE_ROUNDS sets the rounds (default 10, each kind at least once, about
// 35-45 s here with the binaries built).
func TestCrashTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	rounds := 10
	if v, err := strconv.Atoi(os.Getenv("LH_TORTURE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	s := startVectord(t, "snapshot_interval = \"150ms\"\nsnapshot_ops = 300")
	ctx := context.Background()
	c := client(s)
	const dims = 8
	perm := []string{"t0", "t1"}
	for _, n := range perm {
		if _, err := c.CreateIndex(ctx, n, vector.CreateIndexRequest{Dims: dims, Metric: "l2"}); err != nil {
			t.Fatal(err)
		}
	}
	var vdir string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "vectord.wal" {
			vdir = filepath.Dir(p)
		}
		return nil
	})
	if vdir == "" {
		t.Fatal("no vectord.wal under the suite's directory")
	}

	// The model: for each index and id, the version acknowledged (absent:
	// not there). A write cut by the kill is pending: either outcome is
	// right, all of its ids together; the check resolves it.
	type key struct{ index, id string }
	model := map[key]int{}
	type pendingOp struct {
		index string
		ids   []string
		ver   int // the version an upsert wrote; -1 a delete
	}
	var pending []pendingOp
	// The churned index: exists (acknowledged), its items, and a pending
	// create or drop (either outcome right).
	churnExists, churnPending := false, false
	const workers = 4
	const idsPerWorker = 120
	vec := func(id string, ver int) []float32 {
		r := rand.New(rand.NewPCG(uint64(len(id))*7919+uint64(ver), uint64(hashStr(id))))
		v := make([]float32, dims)
		for i := range v {
			v[i] = r.Float32()*2 - 1
		}
		return v
	}
	ver := 0 // versions, unique over the test
	kinds := []string{"random", "snapshot", "upload", "rotation", "drop", "load"}
	// storaged's local backend writes an object into a put-* temp file in
	// its tmp directory, next to data/ (where _vectors/ is).
	var storTmp string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "_vectors" && filepath.Base(filepath.Dir(p)) == "data" {
			storTmp = filepath.Join(filepath.Dir(filepath.Dir(p)), "tmp")
		}
		return nil
	})

	for round := 0; round < rounds; round++ {
		kind := kinds[round%len(kinds)]
		var mu sync.Mutex
		stop := make(chan struct{})
		dropSent := make(chan struct{}, 1)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					index := perm[r.IntN(len(perm))]
					n := 1 + r.IntN(12)
					seen := map[string]bool{}
					var ids []string
					for len(ids) < n {
						id := fmt.Sprintf("w%d-%d", w, r.IntN(idsPerWorker))
						if !seen[id] {
							seen[id] = true
							ids = append(ids, id)
						}
					}
					mu.Lock()
					ver++
					v := ver
					mu.Unlock()
					var err error
					if r.IntN(4) == 0 {
						_, err = c.Delete(ctx, index, ids)
						v = -1
					} else {
						batch := make([]vector.Item, len(ids))
						for i, id := range ids {
							batch[i] = vector.Item{ID: id, Vector: vec(id, v), Metadata: vector.Metadata{"v": float64(v), "id": id}}
						}
						_, err = c.Upsert(ctx, index, batch)
					}
					mu.Lock()
					if err != nil {
						pending = append(pending, pendingOp{index, ids, v})
						mu.Unlock()
						return // the daemon died mid-request (or is gone): not acknowledged
					}
					for _, id := range ids {
						if v < 0 {
							delete(model, key{index, id})
						} else {
							model[key{index, id}] = v
						}
					}
					mu.Unlock()
				}
			}()
		}
		// The churn worker: create, a few upserts, drop, again.
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(round), 99))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				exists := churnExists
				mu.Unlock()
				var err error
				if exists {
					if r.IntN(3) > 0 {
						mu.Lock()
						ver++
						v := ver
						mu.Unlock()
						ids := []string{fmt.Sprint("c", r.IntN(10))}
						_, err = c.Upsert(ctx, "churn", []vector.Item{{ID: ids[0], Vector: vec(ids[0], v), Metadata: vector.Metadata{"v": float64(v)}}})
						mu.Lock()
						if err != nil {
							pending = append(pending, pendingOp{"churn", ids, v})
						} else {
							model[key{"churn", ids[0]}] = v
						}
						mu.Unlock()
						if err != nil {
							return
						}
						continue
					}
					select {
					case dropSent <- struct{}{}:
					default:
					}
					err = c.DeleteIndex(ctx, "churn")
				} else {
					_, err = c.CreateIndex(ctx, "churn", vector.CreateIndexRequest{Dims: dims, Metric: "l2"})
				}
				mu.Lock()
				if err != nil {
					churnPending = true
				} else {
					churnExists = !exists
					for k := range model {
						if k.index == "churn" {
							delete(model, k)
						}
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()

		// The kill.
		deadline := time.Now().Add(time.Duration(400+rand.IntN(800)) * time.Millisecond)
		hit := kind == "random" || kind == "load"
		for !hit && time.Now().Before(deadline.Add(2*time.Second)) {
			switch kind {
			case "snapshot", "rotation", "upload":
				pat := "snap-*.lhv1"
				if kind == "rotation" {
					pat = "vectord.wal.tmp"
				}
				m, _ := filepath.Glob(filepath.Join(vdir, pat))
				if kind == "upload" && len(m) > 0 && storTmp != "" {
					m, _ = filepath.Glob(filepath.Join(storTmp, "put-*")) // storaged is taking it in
				}
				if len(m) > 0 && time.Now().After(deadline.Add(-300*time.Millisecond)) {
					hit = true
				}
			case "drop":
				select {
				case <-dropSent:
					hit = time.Now().After(deadline.Add(-300 * time.Millisecond))
				case <-time.After(5 * time.Millisecond):
				}
			}
			if !hit {
				time.Sleep(200 * time.Microsecond)
			}
		}
		if hit && !time.Now().After(deadline) {
			time.Sleep(time.Until(deadline))
		}
		s.Kill("vectord")
		close(stop)
		wg.Wait()
		if err := s.StartDaemon("vectord"); err != nil {
			t.Fatal(err)
		}
		if kind == "load" {
			// Killed again while it loads its snapshots and replays its log.
			time.Sleep(time.Duration(5+rand.IntN(120)) * time.Millisecond)
			s.Kill("vectord")
			if err := s.StartDaemon("vectord"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.WaitHealthy(60 * time.Second); err != nil {
			t.Fatalf("round %d (%s, hit %v): not healthy after the restart (an index held?): %v", round, kind, hit, err)
		}
		all, err := c.ListAll(ctx)
		if err != nil || len(all.Unreadable) != 0 {
			t.Fatalf("round %d (%s): list: %+v %v", round, kind, all, err)
		}

		// Resolve the pending writes: each wholly applied or wholly not.
		look := func(index, id string) (int, bool) {
			it, err := c.GetItem(ctx, index, id)
			if errs.Is(err, errs.NotFound) {
				return 0, false
			}
			if err != nil {
				t.Fatalf("round %d (%s): %s/%s: %v", round, kind, index, id, err)
			}
			v := int(it.Metadata["v"].(float64))
			if want := vec(id, v); fmt.Sprint(it.Vector) != fmt.Sprint(want) {
				t.Fatalf("round %d (%s): %s/%s version %d has another vector: %v, want %v", round, kind, index, id, v, it.Vector, want)
			}
			return v, true
		}
		churnNow := false
		if _, err := c.GetIndex(ctx, "churn"); err == nil {
			churnNow = true
		} else if !errs.Is(err, errs.NotFound) {
			t.Fatalf("round %d (%s): churn: %v", round, kind, err)
		}
		if churnNow != churnExists {
			if !churnPending {
				t.Fatalf("round %d (%s): churn exists %v, acknowledged %v", round, kind, churnNow, churnExists)
			}
			churnExists = churnNow
			for k := range model {
				if k.index == "churn" {
					delete(model, k)
				}
			}
		}
		churnPending = false
		for _, p := range pending {
			if p.index == "churn" && !churnExists {
				continue
			}
			// The ids whose state tells: every id of an upsert; of a
			// delete, those acknowledged present.
			var ids []string
			for _, id := range p.ids {
				if _, ok := model[key{p.index, id}]; p.ver >= 0 || ok {
					ids = append(ids, id)
				}
			}
			applied := 0
			for _, id := range ids {
				v, ok := look(p.index, id)
				if p.ver < 0 && !ok || p.ver >= 0 && ok && v == p.ver {
					applied++
				}
			}
			if applied != 0 && applied != len(ids) {
				t.Fatalf("round %d (%s): a write cut by the kill is partly applied: %d of %d ids of %+v", round, kind, applied, len(ids), p)
			}
			if applied > 0 {
				for _, id := range ids {
					if p.ver < 0 {
						delete(model, key{p.index, id})
					} else {
						model[key{p.index, id}] = p.ver
					}
				}
			}
		}
		pending = nil

		// Every index exactly as acknowledged.
		counts := map[string]int{}
		for k, want := range model {
			counts[k.index]++
			v, ok := look(k.index, k.id)
			if !ok || v != want {
				t.Fatalf("round %d (%s): acknowledged %s/%s version %d: found %v (version %d)", round, kind, k.index, k.id, want, ok, v)
			}
		}
		names := append([]string(nil), perm...)
		if churnExists {
			names = append(names, "churn")
		}
		for _, n := range names {
			info, err := c.GetIndex(ctx, n)
			if err != nil || info.Count != counts[n] {
				t.Fatalf("round %d (%s): index %s holds %d items, acknowledged %d (an acknowledged delete undone?): %v", round, kind, n, info.Count, counts[n], err)
			}
		}
		// No torn LHV1 object visible in storaged.
		objs := listObjects(t, s.URL("storaged"), vector.SnapshotPrefix)
		for _, k := range objs {
			resp, err := http.Get(s.URL("storaged") + "/v1/storage/objects/" + k)
			if err != nil {
				t.Fatal(err)
			}
			_, derr := lhv1.Decode(resp.Body)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 404 {
				continue // removed meanwhile (a dropped index's)
			}
			if derr != nil {
				t.Fatalf("round %d (%s): snapshot object %s in storaged does not decode: %v", round, kind, k, derr)
			}
		}
		// With no writes, the next snapshot passes cover everything and the
		// log is cut back to its header: nothing keeps it growing across
		// crashes (a drop whose object removal is never finished, a hold).
		walPath := filepath.Join(vdir, "vectord.wal")
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var size int64 = -1
			st, err := os.Stat(walPath)
			if err == nil {
				size = st.Size()
			}
			if size == 24 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("round %d (%s): the log is not truncated behind the snapshots of idle indexes: %d bytes %v", round, kind, size, err)
			}
		}
		t.Logf("round %d: killed at %s (hit %v); %d acknowledged items, churn exists %v, %d snapshot objects whole", round, kind, hit, len(model), churnExists, len(objs))
	}
}

func hashStr(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// listObjects lists storaged's keys under prefix.
func listObjects(t *testing.T, base, prefix string) []string {
	t.Helper()
	var keys []string
	after := ""
	for {
		resp, err := http.Get(base + "/v1/storage/objects?prefix=" + url.QueryEscape(prefix) + "&after=" + url.QueryEscape(after))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Objects []struct {
				Key string `json:"key"`
			} `json:"objects"`
			Next string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if page.Next == "" || len(page.Objects) == 0 {
			return keys
		}
		after = page.Next
	}
}
