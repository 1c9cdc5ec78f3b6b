// Package catalog is the contract of catalogd (:3212): versioned dataset
// manifests over storaged. It holds the types of DESIGN.md (Dataset, Column,
// File, CommitRequest), the Service interface, name validation, the Catalog
// that implements Service over a storage.Store (manifests are immutable JSON
// objects written create-only at _catalog/{name}/{version}.json), the HTTP
// routes, the daemon constructor New, and the typed Client that ingestd,
// queryd and matrixd use.
package catalog

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// Column is one column of a dataset's schema (a DuckDB type name).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Format is how a DATE or TIMESTAMP column's values were written in
	// the CSV that created the dataset, as a strptime format (DuckDB's
	// sniffed dateformat/timestampformat), when day and month could be read
	// either way ("%m/%d/%Y"). ingestd reads appends with it (ADR-023
	// "Date formats"); an append keeps the base version's.
	Format string `json:"format,omitempty"`
}

// MaxFormatLen bounds a column's Format.
const MaxFormatLen = 64

// checkFormat says what is wrong with column c's Format ("" when fine).
func checkFormat(c Column) string {
	if c.Format == "" {
		return ""
	}
	switch t := strings.ToUpper(strings.TrimSpace(c.Type)); {
	case t != "DATE" && t != "TIMESTAMP":
		return fmt.Sprintf("format %q: only DATE and TIMESTAMP columns have one, not %s", shorten(c.Format), shorten(c.Type))
	case len(c.Format) > MaxFormatLen:
		return fmt.Sprintf("format: longer than %d bytes", MaxFormatLen)
	case !strings.Contains(c.Format, "%") || strings.IndexFunc(c.Format, unicode.IsControl) >= 0:
		return fmt.Sprintf("format %q: want a strptime format such as %%m/%%d/%%Y", shorten(c.Format))
	}
	return ""
}

// File is one data file of a dataset version, an object in storaged.
type File struct {
	Key   string `json:"key"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Commit modes. DESIGN.md names append and replace; compact is this
// project's extension (ADR-013 "Compact commits"): the files hold the
// base version's rows in the same order, rewritten into other files, so a
// reader of the latest files sees the same table, and a consumer that
// tracks rows by position (matrixd) can treat the version as
// content-neutral. catalogd checks what it can (base_version is the
// latest, the schema is the base's exactly, the files hold the base's row
// count); the order is the committer's promise.
const (
	ModeAppend  = "append"
	ModeReplace = "replace"
	ModeCompact = "compact"
)

// Dataset is one immutable manifest: a version of a dataset.
type Dataset struct {
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	Schema    []Column  `json:"schema"`
	Files     []File    `json:"files"`
	RowCount  int64     `json:"row_count"`
	CreatedAt time.Time `json:"created_at"` // when the dataset (this incarnation) was created
	UpdatedAt time.Time `json:"updated_at"` // when this version was committed
	// Mode and BaseVersion record the commit that made this version.
	Mode        string `json:"mode,omitempty"`
	BaseVersion int64  `json:"base_version"`
	// Deleted marks a tombstone version (ADR-012): the dataset was deleted
	// here. Tombstones are never returned as datasets.
	Deleted bool `json:"deleted,omitempty"`
	// IdempotencyKey is the client's Idempotency-Key of the ingest that
	// committed this version, RequestHash the hash of that request
	// (ADR-123); both absent on versions committed without a key and on
	// manifests written before they existed.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
}

// Bytes is the total size of the dataset's files.
func (d Dataset) Bytes() int64 {
	var n int64
	for _, f := range d.Files {
		n += f.Bytes
	}
	return n
}

// VersionInfo summarises one version in GET .../{name}/versions.
type VersionInfo struct {
	Version   int64     `json:"version"`
	Mode      string    `json:"mode,omitempty"`
	RowCount  int64     `json:"row_count"`
	FileCount int       `json:"file_count"`
	Bytes     int64     `json:"bytes"`
	UpdatedAt time.Time `json:"updated_at"`
	Deleted   bool      `json:"deleted,omitempty"`
	// IdempotencyKey and RequestHash are the version's (ADR-123), so a
	// look-up of a key reads a page of versions, not their manifests.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
}

// CommitRequest is the body of POST /v1/catalog/datasets/{name}/commit.
type CommitRequest struct {
	// BaseVersion is the version the commit builds on; it must be the latest
	// (else Conflict). 0 creates a new dataset (or re-creates a deleted one).
	// A compact may name an older version when only appends came after it:
	// its files replace that version's, the appended files follow (ADR-013
	// "Compact commits").
	BaseVersion int64    `json:"base_version"`
	Mode        string   `json:"mode"` // append | replace | compact; "" = append
	Schema      []Column `json:"schema"`
	Files       []File   `json:"files"`
	// IdempotencyKey and RequestHash, when set, are recorded in the new
	// version (ADR-123): ingestd looks them up to answer a retried request
	// with the version it committed. catalogd checks their form only.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
}

// MaxIdempotencyKeyLen bounds an Idempotency-Key (Stripe's limit).
const MaxIdempotencyKeyLen = 255

// ValidateIdempotencyKey checks an Idempotency-Key: 1 to
// MaxIdempotencyKeyLen bytes of printable ASCII (0x20-0x7e), not starting
// or ending with a space (an HTTP header value's edges are trimmed, so such a
// key could not be sent back the same).
func ValidateIdempotencyKey(key string) error {
	switch {
	case key == "":
		return errs.E("catalog.idempotency_key", errs.Invalid, "Idempotency-Key: empty")
	case len(key) > MaxIdempotencyKeyLen:
		return errs.Errorf("catalog.idempotency_key", errs.Invalid, "Idempotency-Key: %d bytes, at most %d", len(key), MaxIdempotencyKeyLen)
	case key[0] == ' ' || key[len(key)-1] == ' ':
		return errs.E("catalog.idempotency_key", errs.Invalid, "Idempotency-Key: starts or ends with a space")
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return errs.Errorf("catalog.idempotency_key", errs.Invalid, "Idempotency-Key: byte %d is 0x%02x; want printable ASCII (0x20-0x7e)", i, c)
		}
	}
	return nil
}

// RequestHashLen is the length of a RequestHash: a hex SHA-256.
const RequestHashLen = 64

// checkIdempotency says what is wrong with a key and hash pair ("" when
// fine): a hash needs a key, and is 64 lower-case hex digits.
func checkIdempotency(key, hash string) string {
	if key == "" {
		if hash != "" {
			return "request_hash without an idempotency_key"
		}
		return ""
	}
	if err := ValidateIdempotencyKey(key); err != nil {
		return "idempotency_key: " + strings.TrimPrefix(errs.Message(err), "Idempotency-Key: ")
	}
	if hash == "" {
		return ""
	}
	if len(hash) != RequestHashLen || strings.IndexFunc(hash, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }) >= 0 {
		return fmt.Sprintf("request_hash %q: want %d lower-case hex digits (SHA-256)", shorten(hash), RequestHashLen)
	}
	return ""
}

// Validate checks the request on its own (against the base in Commit).
func (r *CommitRequest) Validate() error {
	if len(r.Files) > MaxCommitFiles {
		return errs.Errorf("catalog.commit", errs.TooLarge, "files: %d in one commit, at most %d; commit them in batches of up to %d (each batch an append)", len(r.Files), MaxCommitFiles, MaxCommitFiles)
	}
	var problems []string
	if r.BaseVersion < 0 {
		problems = append(problems, "base_version: negative")
	}
	switch r.Mode {
	case "":
		r.Mode = ModeAppend
	case ModeAppend, ModeReplace, ModeCompact:
	default:
		problems = append(problems, fmt.Sprintf("mode %q: want append, replace or compact", r.Mode))
	}
	if msg := checkIdempotency(r.IdempotencyKey, r.RequestHash); msg != "" {
		problems = append(problems, msg)
	}
	if len(r.Schema) == 0 {
		problems = append(problems, "schema: at least one column is required")
	}
	seen := map[string]bool{}
	for i, c := range r.Schema {
		switch {
		case c.Name == "":
			problems = append(problems, fmt.Sprintf("schema[%d]: empty name", i))
		case seen[strings.ToLower(c.Name)]:
			problems = append(problems, fmt.Sprintf("schema[%d]: duplicate column %q", i, c.Name))
		}
		seen[strings.ToLower(c.Name)] = true
		if strings.TrimSpace(c.Type) == "" {
			problems = append(problems, fmt.Sprintf("schema[%d] %q: empty type", i, c.Name))
		} else if err := ValidateType(c.Type); err != nil {
			problems = append(problems, fmt.Sprintf("schema[%d] %q: type %q is not a DuckDB type: %v", i, c.Name, shorten(c.Type), err))
		}
		if msg := checkFormat(c); msg != "" {
			problems = append(problems, fmt.Sprintf("schema[%d] %q: %s", i, c.Name, msg))
		}
	}
	keys := map[string]bool{}
	for i, f := range r.Files {
		switch {
		case f.Key == "":
			problems = append(problems, fmt.Sprintf("files[%d]: empty key", i))
		case strings.HasPrefix(f.Key, ManifestPrefix):
			problems = append(problems, fmt.Sprintf("files[%d] %q: keys under %s are the catalog's own", i, f.Key, ManifestPrefix))
		case keys[f.Key]:
			problems = append(problems, fmt.Sprintf("files[%d] %q: listed twice", i, f.Key))
		}
		keys[f.Key] = true
		if f.Rows < 0 || f.Bytes < 0 {
			problems = append(problems, fmt.Sprintf("files[%d] %q: negative rows or bytes", i, f.Key))
		}
	}
	if len(problems) > 0 {
		return errs.E("catalog.commit", errs.Invalid, joinProblems(problems))
	}
	return nil
}

// ValidateFor is Validate plus the rules that depend on the dataset: every
// file key must be a valid storage key under DatasetPrefix(name), so a
// dataset never references (and a purge never deletes) another's files.
func (r *CommitRequest) ValidateFor(name string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	prefix := DatasetPrefix(name)
	var problems []string
	for i, f := range r.Files {
		if err := storage.ValidateKey(f.Key); err != nil {
			problems = append(problems, fmt.Sprintf("files[%d] %q: %v", i, shorten(f.Key), err))
		} else if rest, ok := strings.CutPrefix(f.Key, prefix); !ok || rest == "" || strings.HasSuffix(rest, "/") {
			problems = append(problems, fmt.Sprintf("files[%d] %q: a file of dataset %q must be an object under %s", i, shorten(f.Key), name, prefix))
		}
	}
	if len(problems) > 0 {
		return errs.E("catalog.commit", errs.Invalid, joinProblems(problems))
	}
	return nil
}

// MaxCommitFiles bounds the files of one commit (ADR-092): a 413 above it,
// before anything is looked at. Each file is checked in storage (a HEAD
// and a footer read, 8 at a time) before the manifest is written, all
// within the request's deadline; the limit was none (a 100,000-file
// commit was checked file by file).
const MaxCommitFiles = 10000

// DataPrefix is the key prefix of dataset files (ingestd writes them under
// DatasetPrefix, queryd reads only under DataPrefix).
const DataPrefix = "datasets/"

// DatasetPrefix is where the files of dataset name live: datasets/{name}/.
func DatasetPrefix(name string) string { return DataPrefix + name + "/" }

// MaxProblems is how many problems of a request a 400 message lists; the
// rest are counted. A commit of 200,000 bad file entries (a 2.6 MB body)
// was answered with every one of them: a 5-20 MB error body.
const MaxProblems = 20

// joinProblems lists the first MaxProblems problems and counts the rest.
func joinProblems(problems []string) string {
	if len(problems) <= MaxProblems {
		return strings.Join(problems, "; ")
	}
	return fmt.Sprintf("%s; and %d more problems", strings.Join(problems[:MaxProblems], "; "), len(problems)-MaxProblems)
}

// shorten cuts s for an error message.
func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// DeleteOptions modify Delete.
type DeleteOptions struct {
	// Purge also deletes the data files referenced by the versions since
	// the previous tombstone (ADR-012), only ever keys under
	// datasets/{name}/. Without it the files are kept and older versions
	// stay readable with ?version=N. Purge of a deleted dataset deletes
	// the files its deletion kept.
	Purge bool
	// IfMatch, when not "", is the If-Match of the DELETE (ADR-150): the
	// dataset's latest version must have this entity tag (ETag(name, v),
	// quoted; "*" any), else Conflict (HTTP 412) and nothing is deleted.
	// Checked against the version the tombstone is written after, and the
	// tombstone is create-only, so a commit racing the delete makes it a
	// 412 too. A weak tag never matches (strong comparison, RFC 9110
	// 13.1.1).
	IfMatch string
}

// DeleteResult is the answer of DELETE /v1/catalog/datasets/{name}.
type DeleteResult struct {
	Name         string `json:"name"`
	Version      int64  `json:"version"` // the tombstone's version
	Purged       bool   `json:"purged"`
	DeletedFiles int    `json:"deleted_files"`
}

// Service is catalogd's interface; Catalog implements it over storage and
// Client over HTTP.
type Service interface {
	// List returns the latest version of every live dataset, by name.
	// Errors: Unavailable.
	List(ctx context.Context) ([]Dataset, error)

	// Get returns version (0 = the latest) of dataset name.
	// Errors: Invalid (bad name), NotFound (no such dataset or version, or
	// the dataset is deleted), Unavailable.
	Get(ctx context.Context, name string, version int64) (Dataset, error)

	// Versions lists every version of name, oldest first, tombstones included.
	// Errors: Invalid, NotFound, Unavailable.
	Versions(ctx context.Context, name string) ([]VersionInfo, error)

	// VersionsPage is one page of the versions of name (ADR-013
	// "Thousands of versions"): at most q.Limit versions after q.After, in
	// version order or newest first (q.Desc); Next is set when more follow.
	// Errors: Invalid, NotFound, Unavailable.
	VersionsPage(ctx context.Context, name string, q VersionsQuery) (VersionsResponse, error)

	// Commit writes version latest+1 of name from req. Of two concurrent
	// commits on the same base exactly one wins. Every file must be an
	// object under datasets/{name}/ and a Parquet file whose footer agrees
	// with the request (size = bytes, num_rows = rows, top-level column
	// names = the schema's, in order); every type must be a DuckDB type
	// (ValidateType). Nothing is written unless all of it holds.
	// Errors: Invalid (bad name or request, naming the file or column and
	// what is wrong; a file that does not exist in storage, is not Parquet
	// or does not match; append with a different schema; compact whose
	// schema is not the base's exactly or whose files do not hold the
	// base's row count, or with no live base),
	// Conflict (base_version is not the latest; another commit won the race:
	// reload and retry), Unavailable.
	Commit(ctx context.Context, name string, req CommitRequest) (Dataset, error)

	// Delete writes a tombstone version (ADR-012), so the name disappears
	// from List and Get, can be re-created, and versions are never reused.
	// With Purge on a dataset that is already deleted it writes nothing and
	// deletes the files of the versions the latest tombstone ended.
	// Errors: Invalid, NotFound (no live dataset; with Purge: no dataset),
	// Unavailable.
	Delete(ctx context.Context, name string, opts DeleteOptions) (DeleteResult, error)
}

var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidateName checks a dataset name: ^[a-z_][a-z0-9_]{0,62}$, not a
// DuckDB keyword that would break an unquoted query (ReservedWords), and not
// in a namespace of DuckDB's own system views (SystemPrefixes), which an
// unqualified name resolves to before a dataset could be found.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return errs.Errorf("catalog.name", errs.Invalid, "dataset name %q: want ^[a-z_][a-z0-9_]{0,62}$ (lower-case letters, digits, _; at most 63)", name)
	}
	if ReservedWords[name] {
		return errs.Errorf("catalog.name", errs.Invalid, "dataset name %q is a DuckDB reserved word; it would break queries", name)
	}
	for _, p := range SystemPrefixes {
		if strings.HasPrefix(name, p) {
			return errs.Errorf("catalog.name", errs.Invalid, "dataset name %q: names starting with %s are DuckDB's system views (%s); a query would read DuckDB's view, not the dataset", name, p, strings.Join(SystemPrefixes, ", "))
		}
	}
	return nil
}

// SystemPrefixes are the name prefixes of DuckDB's built-in views that an
// unqualified table name resolves to (system.main: duckdb_tables,
// sqlite_master, pragma_database_list, ...; system.pg_catalog: pg_class,
// ...). The whole prefix is refused, not today's list of views, so a DuckDB
// upgrade that adds one cannot hide a dataset; TestSystemViewNames checks
// every such view of the linked DuckDB against it.
var SystemPrefixes = []string{"duckdb_", "pg_", "pragma_", "sqlite_"}

// ReservedWords are DuckDB's keywords of category "reserved" and
// "type_function", which cannot be an unquoted table name in
// SELECT ... FROM name: exactly the output of
// SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category IN
// ('reserved', 'type_function') on duckdb-go v2.10506.0 (110 words).
var ReservedWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(reservedList) {
		ReservedWords[w] = true
	}
}

const reservedList = `
all analyse analyze and anti any array as asc asof asymmetric at authorization
binary both by case cast check collate collation column columns concurrently
constraint create cross default deferrable desc describe distinct do else end
except false fetch for foreign freeze from full generated glob group having
ilike in initially inner intersect into is isnull join lambda lateral leading
left like limit map natural not notnull null offset on only or order outer
overlaps pivot pivot_longer pivot_wider placing positional primary qualify
references returning right select semi show similar some struct summarize
symmetric table tablesample then to trailing true try_cast union unique unpack
unpivot using variadic verbose when where window with
`
