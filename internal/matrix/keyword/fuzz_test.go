package keyword

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: any bytes as an index file decode cleanly or fail; never panic.
func FuzzLoad(f *testing.F) {
	ix := New()
	ix.Add([]Doc{{ID: "1", Text: "forklift operator"}, {ID: "2", Text: "truck driver on nights"}})
	good := filepath.Join(f.TempDir(), "good")
	if err := ix.Save(good); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Add([]byte("LHKW"))
	f.Add([]byte("LHKW1\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := decode(data)
		if err == nil {
			ix.Search("forklift driver", 10, nil) // a loaded index is usable
		}
	})
}
