//go:build race

package chat

// raceOn: the race detector slows CPU-bound tests 5-10x; their time bounds are skipped.
const raceOn = true
