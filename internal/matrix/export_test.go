package matrix

import (
	"strconv"
	"testing"
	"time"
)

// SetModelCheckEvery shortens Options.ModelCheckEvery's default for the
// matrixd daemons a test starts.
func SetModelCheckEvery(t *testing.T, d time.Duration) {
	old := defaultModelCheckEvery
	defaultModelCheckEvery = d
	t.Cleanup(func() { defaultModelCheckEvery = old })
}

// SetJournal turns the written-ids journal's writes on or off (ADR-121;
// for measuring what it costs a build).
func SetJournal(t *testing.T, on bool) {
	journalOff.Store(!on)
	t.Cleanup(func() { journalOff.Store(false) })
}

// JournalWrites times the journal's writes of batches batches of size ids
// each (the ids of a build of batches*size rows) into a journal in dir,
// as a job's note calls make them.
func JournalWrites(dir string, batches, size int) (time.Duration, error) {
	w := &written{path: dir + "/" + writtenFile}
	defer w.close()
	ids := make([]string, size)
	start := time.Now()
	for b := range batches {
		for i := range ids {
			ids[i] = "d" + strconv.Itoa(b*size+i)
		}
		if err := w.note(ids); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// SetRowStore makes searches use the row stores they find (on) or hydrate
// through queryd as if there were none (ADR-133; to compare the two).
func SetRowStore(t *testing.T, on bool) {
	storeOff.Store(!on)
	t.Cleanup(func() { storeOff.Store(false) })
}
