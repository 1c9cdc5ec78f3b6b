//go:build race

package convert

// raceEnabled: the race detector makes more allocations; allocation
// bounds are not checked under it.
const raceEnabled = true
