//go:build race

package storaged_test

// raceOn: under the race detector a step of a test runs 5-10x slower, so a
// test whose idle timeout must not pass between two of its own steps gives
// it more time.
const raceOn = true
