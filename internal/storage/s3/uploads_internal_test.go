package s3

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
)

// BenchmarkJournalUpload is what the journal adds to one multipart upload:
// the fsynced "start" line and the unsynced "done" line.
func BenchmarkJournalUpload(b *testing.B) {
	j, err := openJournal(filepath.Join(b.TempDir(), "uploads.jsonl"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	for i := 0; b.Loop(); i++ {
		ref := uploadRef{Bucket: "lakehouse-go-primary", Key: "datasets/trips/v1/part-00000.parquet",
			UploadID: fmt.Sprintf("NTQ2ZThkMGYtZTdmMi00OWYyLWIzNmEtNTNhNDY1ODQ2NjYzLjZmOTIxNjQ1%d", i)}
		j.begin(ref)
		j.end(ref, true)
	}
	if len(j.pending) != 0 {
		b.Fatal("pending records left")
	}
}
