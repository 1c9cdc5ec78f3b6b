//go:build race

package ollama_test

// raceOn: the race detector slows CPU-bound tests 5-10x; their time bounds are skipped.
const raceOn = true
