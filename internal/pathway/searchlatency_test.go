package pathway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time of the calling OS thread (RUSAGE_THREAD): on a
// shared machine it measures a search where wall time measures the load.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil { // 1 = RUSAGE_THREAD
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSearchLatency times 1,000 searches over 10,000 memories of one user,
// the hybrid search of ADR-134 against the vector-only ranking, in the
// same run. Opt in (it embeds 20,000 texts):
//
//	LH_PATHWAY_EVAL=1 go test -count=1 -run TestSearchLatency -v ./internal/pathway
func TestSearchLatency(t *testing.T) {
	if os.Getenv("LH_PATHWAY_EVAL") == "" {
		t.Skip("set LH_PATHWAY_EVAL=1")
	}
	ctx := context.Background()
	names := []string{"Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Hugo", "Ines", "Jon"}
	verbs := []string{"lives in", "works at", "likes", "visited", "plays", "collects", "studies", "owns", "hates", "drinks"}
	mems := make([]Message, 0, 10000)
	for i := 0; len(mems) < 10000; i++ {
		mems = append(mems, Message{Role: "user", Content: fmt.Sprintf("%s %s thing%d and item%d", names[i%10], verbs[(i/10)%10], i, i%97)})
	}
	questions := []string{"Where does %s live?", "What does %s like?", "Which company does %s work for?",
		"What does %s collect?", "What did %s study?", "What is %s's job?", "Does %s have pets?", "What does %s drink?"}
	// Both stores are built first and their searches interleaved, so a
	// busy machine slows both alike.
	stores := map[bool]*Store{}
	for _, legacy := range []bool{true, false} {
		n := 0
		s, _, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "state.jsonl"), Embedder: embedder(t),
			NewID: func() string { n++; return fmt.Sprintf("m%06d", n) }, legacySearch: legacy})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		no := false
		for start := 0; start < len(mems); start += MaxMessages {
			if _, err := s.Add(ctx, AddRequest{Messages: mems[start:min(start+MaxMessages, len(mems))], Infer: &no, Scope: Scope{UserID: "u"}}); err != nil {
				t.Fatal(err)
			}
		}
		stores[legacy] = s
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wall, cpu := map[bool]time.Duration{}, map[bool]time.Duration{}
	for i := 0; i < 1000; i++ {
		q := fmt.Sprintf(questions[i%len(questions)], names[i%len(names)])
		for _, legacy := range []bool{i%2 == 0, i%2 != 0} {
			t0, c0 := time.Now(), threadCPU()
			if _, err := stores[legacy].Search(ctx, SearchRequest{Query: q, Limit: 10, Scope: Scope{UserID: "u"}}); err != nil {
				t.Fatal(err)
			}
			cpu[legacy] += threadCPU() - c0
			wall[legacy] += time.Since(t0)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / 1000 }
	t.Logf("1000 searches over 10000 memories, per search: vector only %.2f ms CPU (%.2f ms wall), hybrid %.2f ms CPU (%.2f ms wall)",
		ms(cpu[true]), ms(wall[true]), ms(cpu[false]), ms(wall[false]))
}
