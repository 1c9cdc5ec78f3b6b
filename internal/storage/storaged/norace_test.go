//go:build !race

package storaged_test

const raceOn = false
