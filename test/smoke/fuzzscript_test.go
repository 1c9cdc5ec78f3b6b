package smoke

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestFuzzScriptRetriesFlakesOnly: scripts/fuzz.sh runs a target once more
// only when Go's fuzz coordinator stopped it on its -fuzztime deadline race
// (a bare "context deadline exceeded", no failing input), and fails CI on
// anything else: a failing input written to testdata, a failing seed corpus
// entry (Go writes no file for it, and its message may hold either text), a
// failure before fuzzing whose message names a deadline, a second deadline
// race, and a worker that died with no input recorded. Go records no input
// for a worker killed by a signal it does not take for a crash (SIGKILL:
// the OOM killer on an input's memory), nor for one that exited between two
// inputs (a goroutine the target left running that panicked): findings a
// passing repeat would hide. A stand-in `go` on PATH plays the runs, so no
// target is fuzzed.
func TestFuzzScriptRetriesFlakesOnly(t *testing.T) {
	const (
		pass     = "fuzz: elapsed: 10s, execs: 5000 (500/sec), new interesting: 0 (total: 9)\nPASS\nok  \tlakehouse-go/a\t10.1s\n"
		deadline = "fuzz: elapsed: 10s, execs: 4321 (0/sec), new interesting: 0 (total: 9)\n--- FAIL: FuzzA (10.02s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t10.1s\n"
		hung     = "fuzz: elapsed: 6s, execs: 4321 (700/sec), new interesting: 0 (total: 9)\n--- FAIL: FuzzA (6.20s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t6.3s\n"
		killed   = "fuzz: elapsed: 6s, execs: 4321 (700/sec), new interesting: 0 (total: 9)\n--- FAIL: FuzzA (6.20s)\n    fuzzing process terminated by unexpected signal; no crash will be recorded: signal: killed\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t6.3s\n"
		found    = "--- FAIL: FuzzA (3.00s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\n    Failing input written to testdata/fuzz/FuzzA/0123456789abcdef\n    To re-run:\n    go test -run=FuzzA/0123456789abcdef\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t3.1s\n"
		seedHung = "fuzz: elapsed: 0s, gathering baseline coverage: 0/3 completed\nfailure while testing seed corpus entry: FuzzA/seed#1\n--- FAIL: FuzzA (0.20s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t0.3s\n"
		seedCtx  = "fuzz: elapsed: 0s, gathering baseline coverage: 0/3 completed\nfailure while testing seed corpus entry: FuzzA/seed#1\n--- FAIL: FuzzA (0.20s)\n    x_test.go:9: GET: context deadline exceeded\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t0.3s\n"
		setupCtx = "--- FAIL: FuzzA (0.05s)\n    x_test.go:7: start the server: context deadline exceeded\nFAIL\nexit status 1\nFAIL\tlakehouse-go/a\t0.1s\n"
	)
	cases := []struct {
		name  string
		runs  []string // what each `go test` call prints; a run holding "--- FAIL" exits 1
		calls int      // how many calls fuzz.sh makes
		ok    bool     // fuzz.sh exits 0
	}{
		{"pass", []string{pass}, 1, true},
		{"deadline race, then pass", []string{deadline, pass}, 2, true},
		{"deadline race twice", []string{deadline, deadline}, 2, false},
		{"worker exited, no input recorded", []string{hung, pass}, 1, false},
		{"worker killed, no input recorded", []string{killed, pass}, 1, false},
		{"failing input", []string{found, pass}, 1, false},
		{"failing seed, worker exited", []string{seedHung, pass}, 1, false},
		{"failing seed, its message names a deadline", []string{seedCtx, pass}, 1, false},
		{"failure before fuzzing, its message names a deadline", []string{setupCtx, pass}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			script, err := os.ReadFile(filepath.Join(suite.RepoRoot(), "scripts", "fuzz.sh"))
			if err != nil {
				t.Fatal(err)
			}
			plays := filepath.Join(root, "plays")
			for _, d := range []string{filepath.Join(root, "scripts"), filepath.Join(root, "a"), filepath.Join(root, "bin"), plays} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write := func(p, s string, mode os.FileMode) {
				t.Helper()
				if err := os.WriteFile(p, []byte(s), mode); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(root, "scripts", "fuzz.sh"), string(script), 0o755)
			write(filepath.Join(root, "a", "x_test.go"), "package a\n\nimport \"testing\"\n\nfunc FuzzA(f *testing.F) {\n\tf.Fuzz(func(t *testing.T, b []byte) {})\n}\n", 0o644)
			for i, r := range c.runs {
				write(filepath.Join(plays, strconv.Itoa(i+1)), r, 0o644)
			}
			// The stand-in go: call n prints plays/n (and records its
			// arguments), exiting 1 when that run failed.
			write(filepath.Join(root, "bin", "go"), `#!/usr/bin/env bash
n=$(( $(cat "$PLAYS/calls" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$PLAYS/calls"
echo "$*" >"$PLAYS/args$n"
[ -f "$PLAYS/$n" ] || { echo "no play $n"; exit 3; }
cat "$PLAYS/$n"
! grep -q -- "--- FAIL" "$PLAYS/$n"
`, 0o755)
			cmd := exec.Command("bash", filepath.Join(root, "scripts", "fuzz.sh"), "10s")
			cmd.Env = append(os.Environ(), "PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"), "PLAYS="+plays)
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != c.ok {
				t.Fatalf("fuzz.sh exit ok=%v (%v), want %v:\n%s", ok, err, c.ok, out)
			}
			calls, _ := os.ReadFile(filepath.Join(plays, "calls"))
			if n, _ := strconv.Atoi(strings.TrimSpace(string(calls))); n != c.calls {
				t.Fatalf("%d go test calls, want %d:\n%s", n, c.calls, out)
			}
			if c.calls == 2 {
				// The repeat has a count budget, not a deadline to race.
				args, _ := os.ReadFile(filepath.Join(plays, "args2"))
				if !strings.Contains(string(args), "-fuzztime 4321x") {
					t.Fatalf("repeat ran with %q, want -fuzztime 4321x", args)
				}
			}
			// A worker that died with no input recorded (nor a seed named) is
			// named as a finding.
			if died := strings.Contains(c.runs[0], "    fuzzing process") && !strings.Contains(c.runs[0], "Failing input") && !strings.Contains(c.runs[0], "seed corpus"); died != strings.Contains(string(out), "Go recorded no input") {
				t.Fatalf("a worker that died with no input recorded: %v, but the note is printed: %v:\n%s", died, !died, out)
			}
			if !c.ok && c.calls == 2 && strings.Count(string(out), "--- FAIL") != 1 {
				t.Fatalf("want the repeat's --- FAIL printed as Go wrote it, the first run's relabelled:\n%s", out)
			}
		})
	}
}
