//go:build !race

package ollama_test

const raceOn = false
