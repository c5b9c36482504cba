//go:build race

package dataplane

// raceEnabled: the race detector's instrumentation allocates, so the
// zero-allocation assertions only hold without it.
const raceEnabled = true
