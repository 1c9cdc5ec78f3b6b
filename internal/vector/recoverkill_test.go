package vector_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector"
)

// TestRecoverKill9: a real vectord killed with SIGKILL at a random moment
// of a recover (POST .../recover {"accept_loss":true}) of an index held
// for a damaged log record comes back either still holding the index (the
// recover had not stored its snapshot) or serving it — and then with every
// intact acknowledged write, before and after the damage; never served
// short of them, never held again after a recover that was answered.
// Repeated with a new damaged record each round on the same log.
func TestRecoverKill9(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"1h\"")
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "r", vector.CreateIndexRequest{Dims: 16}); err != nil {
		t.Fatal(err)
	}
	var walPath string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "vectord.wal" {
			walPath = p
		}
		return nil
	})
	r := rand.New(rand.NewPCG(1, 2))
	want := map[string]bool{}
	upsert := func(ids ...string) {
		t.Helper()
		batch := make([]vector.Item, len(ids))
		for i, id := range ids {
			v := make([]float32, 16)
			for j := range v {
				v[j] = r.Float32() + 0.01
			}
			batch[i] = vector.Item{ID: id, Vector: v}
		}
		if _, err := c.Upsert(ctx, "r", batch); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 { // an index that takes a moment to encode
		ids := make([]string, 300)
		for j := range ids {
			ids[j] = fmt.Sprintf("base-%d-%d", i, j)
			want[ids[j]] = true
		}
		upsert(ids...)
	}
	waitUp := func() {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(s.URL("vectord") + "/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			if time.Now().After(end) {
				t.Fatalf("vectord did not come up: %v", err)
			}
		}
	}
	held := func() bool {
		t.Helper()
		_, err := c.GetIndex(ctx, "r")
		if err != nil && (!errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "damaged record")) {
			t.Fatalf("GET: %v", err)
		}
		return err != nil
	}
	check := func(round int, when string) {
		t.Helper()
		info, err := c.GetIndex(ctx, "r")
		if err != nil || info.Count != len(want) {
			t.Fatalf("round %d %s: %+v %v (want %d items)", round, when, info, err, len(want))
		}
		for id := range want {
			if _, err := c.GetItem(ctx, "r", id); err != nil {
				t.Fatalf("round %d %s: acknowledged %s lost: %v", round, when, id, err)
			}
		}
	}
	for round := range 6 {
		lost, after := fmt.Sprint("lost-", round), fmt.Sprint("after-", round)
		upsert(lost) // the record to damage: the second-last frame
		upsert(after)
		want[after] = true
		s.Kill("vectord")
		b, err := os.ReadFile(walPath)
		if err != nil {
			t.Fatal(err)
		}
		var offs []int
		for off := 24; off+8 <= len(b); off += 8 + int(binary.LittleEndian.Uint32(b[off:])) {
			offs = append(offs, off)
		}
		at := offs[len(offs)-2]
		if !bytes.Contains(b[at:offs[len(offs)-1]], []byte(lost)) {
			t.Fatalf("round %d: frame at %d is not %s's", round, at, lost)
		}
		b[at+8+10] ^= 0x20
		if err := os.WriteFile(walPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.StartDaemon("vectord"); err != nil {
			t.Fatal(err)
		}
		waitUp()
		if !held() {
			t.Fatalf("round %d: not held after the damage", round)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.Recover(ctx, "r", vector.RecoverRequest{AcceptLoss: true})
			done <- err
		}()
		time.Sleep(time.Duration(r.IntN(40)) * time.Millisecond)
		s.Kill("vectord")
		answered := <-done == nil
		if err := s.StartDaemon("vectord"); err != nil {
			t.Fatal(err)
		}
		waitUp()
		if held() {
			if answered {
				t.Fatalf("round %d: held again after an answered recover", round)
			}
			if _, err := c.Recover(ctx, "r", vector.RecoverRequest{AcceptLoss: true}); err != nil {
				t.Fatal(err)
			}
		}
		check(round, fmt.Sprintf("(recover answered before the kill: %v)", answered))
		t.Logf("round %d: recover answered before the kill: %v", round, answered)
	}
}
