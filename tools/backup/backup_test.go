package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

func TestMain(m *testing.M) { suite.Main(m) }

var backupDaemons = []string{"gateway", "storaged", "catalogd", "ingestd", "queryd", "vectord"}

// TestBackupWhileWriting takes a backup of a running suite while, between
// every two of its steps, a CSV is appended to a dataset and vectors are
// upserted until vectord has snapshotted them and cut its log — the writes
// that make a wrong order lose data (manifests copied after the data files
// name files the copy lacks; a log copied after the snapshots has lost what
// a newer snapshot holds). The backup, restored with `cp -a` into an empty
// data dir, starts, every dataset answers its manifest's row count, and
// every write acknowledged before the step that copies it is there.
func TestBackupWhileWriting(t *testing.T) {
	a := suite.Start(t, suite.Options{Daemons: backupDaemons, Settings: map[string]string{
		"vectord": `snapshot_interval = "100ms"`,
	}})
	if _, err := a.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	do := func(method, path, body string) []byte {
		t.Helper()
		resp, b, err := a.Do(ctx, method, path, "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %v %s", method, path, err, b)
		}
		return b
	}
	rows, vectors := 0, 0
	appendRows := func() {
		var csv strings.Builder
		csv.WriteString("id,name\n")
		for i := 0; i < 5; i++ {
			rows++
			fmt.Fprintf(&csv, "%d,row %d\n", rows, rows)
		}
		resp, b, err := a.Do(ctx, "POST", "/v1/ingest?name=events&mode=append", "text/csv", strings.NewReader(csv.String()))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("append: %v %s", err, b)
		}
	}
	wal := filepath.Join(a.Dir, "data", "vectord", "vectord.wal")
	walSize := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	upsertAndSnapshot := func() {
		var items []string
		for i := 0; i < 20; i++ {
			vectors++
			items = append(items, fmt.Sprintf(`{"id":"v%d","vector":[%d,1,0.5]}`, vectors, vectors))
		}
		do("POST", "/v1/vectors/indexes/vecs/upsert", `{"items":[`+strings.Join(items, ",")+`]}`)
		full := walSize()
		for deadline := time.Now().Add(20 * time.Second); walSize() >= full; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("vectord did not snapshot and cut its log")
			}
		}
	}
	do("PUT", "/v1/vectors/indexes/vecs", `{"dims":3,"metric":"l2"}`)
	appendRows()
	upsertAndSnapshot()
	do("POST", "/v1/ingest?name=other", `{"a":1}`+"\n")

	// What was acknowledged before each step began.
	rowsBefore, vectorsBefore := map[string]int{}, map[string]int{}
	rowsBefore["matrixd indexes"], vectorsBefore["matrixd indexes"] = rows, vectors
	steps := Steps(mustLoad(t, a.Config))
	afterStep = func(what string) {
		appendRows()
		upsertAndSnapshot()
		for i, s := range steps {
			if s.what == what && i+1 < len(steps) {
				rowsBefore[steps[i+1].what], vectorsBefore[steps[i+1].what] = rows, vectors
			}
		}
	}
	defer func() { afterStep = nil }()
	dest := filepath.Join(t.TempDir(), "backup")
	var log bytes.Buffer
	st, err := Backup(mustLoad(t, a.Config), dest, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("%+v\n%s", st, log.String())
	if _, err := Backup(mustLoad(t, a.Config), dest, &log); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a backup into a non-empty directory: %v", err)
	}
	a.Stop()

	// Restore as REPLICATION.md says: cp -a into an empty data dir.
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", dest+"/.", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	b, err := suite.StartE(dir, suite.Options{Daemons: backupDaemons})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if _, err := b.WaitHealthy(30 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, b.Logs())
	}
	var list struct {
		Datasets []struct {
			Name     string `json:"name"`
			RowCount int64  `json:"row_count"`
		} `json:"datasets"`
	}
	_, body, _ := b.Do(ctx, "GET", "/v1/catalog/datasets", "", nil)
	if err := json.Unmarshal(body, &list); err != nil || len(list.Datasets) != 2 {
		t.Fatalf("restored catalog: %v %s", err, body)
	}
	for _, d := range list.Datasets {
		resp, body, err := b.Do(ctx, "POST", "/v1/sql", "application/json", strings.NewReader(`{"sql":"SELECT COUNT(*) FROM `+d.Name+`"}`))
		var q struct{ Rows [][]int64 }
		if err != nil || resp.StatusCode != 200 || json.Unmarshal(body, &q) != nil || q.Rows[0][0] != d.RowCount {
			t.Fatalf("restored %s (manifest: %d rows): %v %s", d.Name, d.RowCount, err, body)
		}
		if d.Name == "events" && d.RowCount < int64(rowsBefore["catalog manifests"]) {
			t.Errorf("events: %d rows restored, %d acknowledged before the manifests were copied", d.RowCount, rowsBefore["catalog manifests"])
		}
	}
	_, body, _ = b.Do(ctx, "GET", "/v1/vectors/indexes/vecs", "", nil)
	var ix struct{ Count int }
	json.Unmarshal(body, &ix)
	last := max(vectorsBefore["vectord write-ahead log"], vectorsBefore["objects"]) // both copies hold what vectord holds
	if ix.Count < last {
		t.Errorf("vecs: %d vectors restored, %d acknowledged before vectord's state was copied: %s", ix.Count, last, body)
	}
	t.Logf("restored: events rows %v, vectors %d (acknowledged before the last vectord step: %d)", list.Datasets, ix.Count, last)
}

func mustLoad(t *testing.T, path string) *shared.Config {
	cfg, err := shared.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
