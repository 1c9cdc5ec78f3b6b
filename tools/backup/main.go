// Command backup copies a running Lakehouse-Go's durable state (local
// backend) into a new directory laid out as a data dir, consistent without
// stopping anything (REPLICATION.md, ADR-090):
//
//	go run ./tools/backup -config /etc/lakehouse/lakehouse.toml -to /backup/2026-11-29
//
// The order is what makes a copy taken while writes go on restorable:
//
//  1. matrixd's index state, first: it never claims more than the data
//     copied after it holds (a refresh adds what it lacks).
//  2. the catalog's manifests (objects/data/_catalog): every file a copied
//     manifest names existed when that manifest was written, and data files
//     are deleted only by an explicit purge (ADR-012) — so copying the data
//     files after the manifests gets all of them. (The other way round, a
//     manifest committed during the copy names files the copy lacks.)
//  3. vectord's write-ahead log, then (4) its snapshots with the rest of the
//     objects: the log is cut only after a newer snapshot is stored, so a
//     log copied before the snapshots never leaves a gap between them.
//  5. pathwayd's state.jsonl and observerd's ops.jsonl: append-only; a line
//     being written when the copy reads is a torn tail, cut on replay.
//
// Each file is copied to a temp name, fsynced, renamed, with its mode, its
// modification time and its user.* xattrs (storaged's etag and
// Content-Type); a file that vanishes while the copy runs (a vectord log
// segment cut, a temp file) is skipped. Caches and temp dirs (queryd,
// ingestd, objects/tmp) and lock files are not copied. Restore: stop the
// suite, copy the backup into an empty data_dir (`cp -a BACKUP/. DATA_DIR/`),
// start it. With the s3 backend the objects are in the bucket: use MinIO's
// replication or `mc mirror` (_catalog/ first, as above); this command then
// copies only the local state.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"lakehouse-go/internal/shared"
)

func main() {
	config := flag.String("config", os.Getenv("LAKEHOUSE_CONFIG"), "lakehouse.toml (default: $LAKEHOUSE_CONFIG, else embedded defaults)")
	dataDir := flag.String("data-dir", "", "data_dir, overriding the config's")
	to := flag.String("to", "", "new directory to copy into (must not exist or be empty)")
	flag.Parse()
	if *to == "" {
		fmt.Fprintln(os.Stderr, "backup: -to DIR is required")
		os.Exit(2)
	}
	cfg, err := shared.Load(*config, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backup:", err)
		os.Exit(1)
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	st, err := Backup(cfg, *to, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backup:", err)
		os.Exit(1)
	}
	fmt.Printf("backup: %d files, %d bytes into %s (%d vanished while copying)\n", st.Files, st.Bytes, *to, st.Vanished)
}

// Stats counts what a backup copied.
type Stats struct{ Files, Bytes, Vanished int64 }

// step is one source copied to dst (relative to the backup root). objects:
// every file is an object, copied whatever its name; in a daemon's state
// directory lock files and temp files are left out.
type step struct {
	what, src, dst string
	objects        bool
}

// Steps is the copy order (see the package comment).
func Steps(cfg *shared.Config) []step {
	objects := cfg.DataPath(cfg.Storaged.Dir, "objects")
	local := cfg.Storaged.Backend == "" || cfg.Storaged.Backend == "local"
	var s []step
	s = append(s, step{what: "matrixd indexes", src: cfg.DataPath(cfg.Matrixd.Dir, "matrixd"), dst: "matrixd"})
	if local {
		s = append(s, step{"catalog manifests", filepath.Join(objects, "data", "_catalog"), "objects/data/_catalog", true})
	}
	s = append(s, step{what: "vectord write-ahead log", src: cfg.DataPath(cfg.Vectord.Dir, "vectord"), dst: "vectord"})
	if local {
		s = append(s, step{"objects", filepath.Join(objects, "data"), "objects/data", true})
	}
	s = append(s,
		step{what: "pathwayd journal", src: cfg.DataPath(cfg.Pathwayd.StatePath, "pathwayd/state.jsonl"), dst: "pathwayd/state.jsonl"},
		step{what: "observerd ring", src: cfg.DataPath(cfg.Observerd.StatePath, "observerd/ops.jsonl"), dst: "observerd/ops.jsonl"})
	return s
}

// Backup copies cfg's state into to, in Steps' order, reporting each step on log.
func Backup(cfg *shared.Config, to string, log io.Writer) (Stats, error) {
	var st Stats
	if ents, err := os.ReadDir(to); err == nil && len(ents) > 0 {
		return st, fmt.Errorf("%s is not empty: a backup goes into a new directory", to)
	}
	if err := os.MkdirAll(to, 0o750); err != nil {
		return st, err
	}
	done := map[string]bool{} // sources copied by an earlier step (the catalog within the objects)
	for _, s := range Steps(cfg) {
		fmt.Fprintf(log, "backup: %s (%s)\n", s.what, s.src)
		if err := copyTree(s, filepath.Join(to, filepath.FromSlash(s.dst)), done, &st); err != nil {
			return st, fmt.Errorf("%s: %w", s.what, err)
		}
		done[s.src] = true
		if afterStep != nil {
			afterStep(s.what)
		}
	}
	root, err := os.Open(to)
	if err != nil {
		return st, err
	}
	defer root.Close()
	return st, unix.Syncfs(int(root.Fd())) // every directory entry the renames made
}

// afterStep, when set (tests), runs after each step: writes the suite
// takes between two steps of a backup.
var afterStep func(what string)

// skipped in a state directory: the lock file, and temp files a daemon
// renames into place once whole (vectord.wal.tmp, matrixd's).
func skipped(name string) bool {
	return name == shared.DirLockName || strings.HasSuffix(name, ".tmp") || strings.Contains(name, ".tmp-")
}

// copyTree copies s.src (a directory or a file) to dst; sources in done
// are left out (copied already).
func copyTree(s step, dst string, done map[string]bool, st *Stats) error {
	src := s.src
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // vanished, or never there (a daemon not run yet)
				if p != src {
					st.Vanished++
				}
				return nil
			}
			return err
		}
		if p != src && done[p] {
			return fs.SkipDir
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o750)
		case !d.Type().IsRegular() || !s.objects && skipped(d.Name()):
			return nil // sockets, symlinks, locks, temp files
		}
		n, err := copyFile(p, target)
		if errors.Is(err, fs.ErrNotExist) {
			st.Vanished++
			return nil
		}
		if err != nil {
			return err
		}
		st.Files++
		st.Bytes += n
		return nil
	})
}

// copyFile copies one file through a temp name: contents, mode, mtime and
// user.* xattrs, fsynced before the rename.
func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return 0, err
	}
	tmp := dst + ".backup-part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fi.Mode().Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = copyXattrs(int(in.Fd()), int(out.Fd()))
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// copyXattrs copies the user.* extended attributes (storaged keeps an
// object's etag and Content-Type there); a file system without them is
// not an error (storaged rehashes an object that has none).
func copyXattrs(from, to int) error {
	buf := make([]byte, 4096)
	n, err := unix.Flistxattr(from, buf)
	if err != nil || n == 0 {
		return nil
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		val := make([]byte, 64<<10)
		m, err := unix.Fgetxattr(from, name, val)
		if err != nil {
			continue
		}
		if err := unix.Fsetxattr(to, name, val[:m], 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}
