// Package s3 is storaged's S3 backend (MinIO in production, any S3 API),
// built on minio-go. Uploads stream in bounded parts (PartSize, two buffers
// in flight: one being read, one being sent), so memory stays flat for any
// object size and for bodies of unknown length. Create-only writes send
// If-None-Match: * on the single PUT or on CompleteMultipartUpload, which
// MinIO (and AWS S3) evaluate atomically. An unreachable endpoint or a
// missing bucket is Unavailable naming both (runbook word "NoSuchBucket");
// the store never fails to open because S3 is down, so storaged keeps
// running and recovers when S3 comes back.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// Config configures the backend. Keys come from the secrets file
// (LoadSecrets), never from lakehouse.toml.
type Config struct {
	Endpoint  string // host:port, or http(s)://host:port (the scheme overrides UseSSL)
	Bucket    string
	Region    string
	UseSSL    bool
	AccessKey string
	SecretKey string
	// PartSize bounds each multipart part (and the memory of one upload:
	// two parts). Default 16 MiB, at least 5 MiB (the S3 minimum).
	PartSize int64
	// MaxRetries is minio-go's per-request retry count; default 2, so an
	// outage answers unavailable within seconds rather than minutes.
	MaxRetries int
	// UploadJournal is the file where the store records the multipart
	// uploads it starts (uploads.go), so that uploads interrupted by an S3
	// outage or a crash are aborted later by the janitor. "" = no journal:
	// an interrupted upload gets one best-effort abort only.
	UploadJournal string
	// JanitorInterval is how often the janitor sweeps (0 =
	// DefaultJanitorInterval); it also sweeps at Open.
	JanitorInterval time.Duration
	// DialTimeout, HeaderTimeout and StallTimeout bound the silences of a
	// server that stops answering (0 = storage.S3DialTimeout,
	// S3HeaderTimeout, S3StallTimeout): a connect, the wait for an answer's
	// headers, and one read of a body or one 1 MiB write of an upload that
	// moves nothing. None bounds a transfer that keeps moving.
	DialTimeout, HeaderTimeout, StallTimeout time.Duration
}

// ConfigFrom is the connection part of Config from the config file's [s3]
// section and the keys of a secrets file: endpoint, bucket, region, TLS and
// the hung-server bounds. Every daemon that opens S3 (storaged, and queryd
// with its own keys) starts from it, so a key of [s3] cannot reach one and
// miss the other (queryd read S3 without the timeouts once). The writer's
// settings (PartSize, UploadJournal) are storaged's to add.
func ConfigFrom(c shared.S3Config, accessKey, secretKey string) Config {
	return Config{Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region, UseSSL: c.UseSSL,
		AccessKey: accessKey, SecretKey: secretKey,
		DialTimeout: c.DialTimeout.Duration, HeaderTimeout: c.HeaderTimeout.Duration, StallTimeout: c.StallTimeout.Duration}
}

// DefaultPartSize is the part size used when Config.PartSize is 0.
const DefaultPartSize = 16 << 20

const minPartSize = 5 << 20

// Store is the S3 backend. It implements storage.Store.
type Store struct {
	cfg      Config
	core     minio.Core
	log      *slog.Logger
	where    string       // "S3 endpoint X bucket Y", for messages
	bucketOK atomic.Int64 // unix nanos when the bucket was last seen to exist
	bufs     sync.Pool

	journal     *uploadJournal // nil without Config.UploadJournal
	stopJanitor context.CancelFunc
	janitorDone chan struct{}
}

var _ storage.Store = (*Store)(nil)

// Open returns a Store for cfg. It does not contact S3 (a down endpoint is
// not a startup failure); Check does. With cfg.UploadJournal it opens the
// journal (an unusable or locked journal is an error) and starts the
// janitor, which Close stops.
func Open(cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("s3: endpoint and bucket are required")
	}
	endpoint := cfg.Endpoint
	secure := cfg.UseSSL
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("s3 endpoint %q: %w", cfg.Endpoint, err)
		}
		secure = u.Scheme == "https"
		endpoint = u.Host
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("s3: part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 2
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = storage.S3DialTimeout
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = storage.S3HeaderTimeout
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = storage.S3StallTimeout
	}
	tr.Proxy = nil // never through an HTTP proxy
	tr.MaxIdleConnsPerHost = 64
	// A hung server (SIGSTOPped: it accepts connections and answers
	// nothing) held a GET for minio-go's 5 minutes, times its retries.
	tr.ResponseHeaderTimeout = cfg.HeaderTimeout
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	stall := cfg.StallTimeout
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return storage.StallConn(c, stall), nil
	}
	cl, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       secure,
		Region:       cfg.Region,
		Transport:    tr,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %q: %w", cfg.Endpoint, err)
	}
	s := &Store{cfg: cfg, core: minio.Core{Client: cl}, log: log,
		where: fmt.Sprintf("S3 endpoint %s bucket %q", cl.EndpointURL().String(), cfg.Bucket)}
	s.bufs.New = func() any { b := make([]byte, cfg.PartSize); return &b }
	if cfg.UploadJournal != "" {
		j, err := openJournal(cfg.UploadJournal, log)
		if err != nil {
			return nil, err
		}
		s.journal = j
		interval := cfg.JanitorInterval
		if interval <= 0 {
			interval = DefaultJanitorInterval
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.stopJanitor, s.janitorDone = cancel, make(chan struct{})
		go s.janitor(ctx, interval, s.janitorDone)
	}
	return s, nil
}

// Close stops the janitor and closes the upload journal. Uploads still
// recorded there are aborted by the next Open.
func (s *Store) Close() error {
	if s.journal == nil {
		return nil
	}
	s.stopJanitor()
	<-s.janitorDone
	return s.journal.close()
}

// Check reports whether the endpoint answers and the bucket exists.
func (s *Store) Check(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.mapErr(ctx, "s3.check", "", err)
	}
	if !ok {
		return s.noBucket("s3.check")
	}
	s.bucketOK.Store(time.Now().UnixNano())
	return nil
}

// Secrets is secrets-go.toml: [s3.primary] access_key_id, secret_access_key.
type Secrets struct {
	S3 struct {
		Primary struct {
			AccessKeyID     string `toml:"access_key_id"`
			SecretAccessKey string `toml:"secret_access_key"`
		} `toml:"primary"`
	} `toml:"s3"`
}

// PlaceholderSecret is deploy/etc-lakehouse/secrets-go.toml.example's
// secret_access_key: a key published in the repository is refused, as
// shared.PlaceholderToken is for AUTH_TOKEN (ADR-118).
const PlaceholderSecret = "change-me"

// LoadSecrets reads the S3 keys from path, refusing a file that group or
// others can read (or that is missing, or has no keys).
func LoadSecrets(path string) (accessKey, secretKey string, err error) {
	if path == "" {
		return "", "", fmt.Errorf("[s3].secrets_path is empty: the s3 backend needs secrets-go.toml with [s3.primary] access_key_id and secret_access_key")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("s3 secrets file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", "", fmt.Errorf("s3 secrets file %s is readable by group or others (mode %04o): refusing to start; run chmod 600 %s", path, perm, path)
	}
	var sec Secrets
	if _, err := toml.DecodeFile(path, &sec); err != nil {
		return "", "", fmt.Errorf("s3 secrets file %s: %w", path, err)
	}
	p := sec.S3.Primary
	if p.AccessKeyID == "" || p.SecretAccessKey == "" {
		return "", "", fmt.Errorf("s3 secrets file %s: [s3.primary] access_key_id and secret_access_key are required", path)
	}
	if p.SecretAccessKey == PlaceholderSecret {
		return "", "", fmt.Errorf("s3 secrets file %s: [s3.primary] secret_access_key is the example's placeholder %q: set the bucket's real key", path, PlaceholderSecret)
	}
	return p.AccessKeyID, p.SecretAccessKey, nil
}

func (s *Store) noBucket(op string) error {
	return errs.E(op, errs.Unavailable, fmt.Sprintf("%s: the bucket does not exist (NoSuchBucket); create it", s.where))
}

// mapErr turns a minio-go error into an error kind.
func (s *Store) mapErr(ctx context.Context, op, key string, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey":
		return errs.Errorf(op, errs.NotFound, "object %q not found", key)
	case "NoSuchBucket":
		return s.noBucket(op)
	case "PreconditionFailed":
		return errs.E(op, errs.Conflict, errs.StatusPrecondition, fmt.Sprintf("object %q already exists (create-only write)", key))
	case "InvalidRange":
		return errs.E(op, errs.Invalid, http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("range not satisfiable for object %q", key))
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return errs.E(op, errs.Unavailable, fmt.Sprintf("%s refused storaged's credentials (%s); check [s3.primary] in the secrets file", s.where, resp.Code))
	case "BadDigest", "InvalidDigest":
		return errs.E(op, errs.Invalid, fmt.Sprintf("object %q: the body's MD5 is not its Content-MD5 (%s): nothing written", key, resp.Code))
	case "XMinioInvalidObjectName", "KeyTooLongError", "InvalidArgument", "XMinioObjectNameInvalid", "XMinioInvalidResourceName":
		return errs.E(op, errs.Invalid, fmt.Sprintf("key %q: S3 refused it (%s)", key, resp.Code))
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return errs.E(op, errs.Timeout, s.where+" did not answer in time", netCause(err))
		}
		return errs.E(op, errs.Unavailable, "request canceled", cerr)
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.Code != "" {
		return errs.E(op, errs.Unavailable, errs.StatusBadGateway, fmt.Sprintf("%s answered %s: %s", s.where, resp.Code, resp.Message))
	}
	return errs.E(op, errs.Unavailable, fmt.Sprintf("%s is unavailable", s.where), netCause(err))
}

// netCause is what a caller reads of a request S3 never answered: the
// network failure, without the request's URL (its query holds a multipart
// upload id or a listing's parameters; the op and key say what it was).
func netCause(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Err == nil {
		return err
	}
	if strings.HasPrefix(ue.Err.Error(), "Connection closed by foreign host") { // minio-go's words for an EOF, with the URL
		return errors.New("the connection was closed")
	}
	return ue.Err
}

// missing maps a HEAD's body-less 404: minio-go calls it NoSuchKey even when
// the bucket is gone, so (at most every 5 s) a one-byte GET of the key asks
// again: its error body names NoSuchKey or NoSuchBucket. A GET needs only
// s3:GetObject, as the HEAD did; a HEAD of the bucket needs s3:ListBucket,
// which read-only keys ([queryd].secrets_path) do not have.
func (s *Store) missing(ctx context.Context, op, key string, err error) error {
	mapped := s.mapErr(ctx, op, key, err)
	if !errs.Is(mapped, errs.NotFound) {
		return mapped
	}
	if time.Since(time.Unix(0, s.bucketOK.Load())) > 5*time.Second {
		var gopts minio.GetObjectOptions
		_ = gopts.SetRange(0, 0)
		rc, _, _, gerr := s.core.GetObject(ctx, s.cfg.Bucket, key, gopts)
		if gerr == nil {
			rc.Close() // written since the HEAD: the bucket is there
		} else if code := minio.ToErrorResponse(gerr).Code; code != "NoSuchKey" && code != "InvalidRange" {
			return s.mapErr(ctx, op, key, gerr)
		}
		s.bucketOK.Store(time.Now().UnixNano())
	}
	return mapped
}

func toInfo(key string, oi minio.ObjectInfo) storage.ObjectInfo {
	return storage.ObjectInfo{Key: key, Size: oi.Size, ETag: strings.Trim(oi.ETag, `"`), Modified: oi.LastModified.UTC(),
		ContentType: storage.ContentTypeOf(oi.ContentType)}
}

// checkKey is storage.ValidateKey plus what minio-go refuses before it
// sends anything: a key of only white space ("Object name cannot be
// empty", which Put and Delete returned as a plain error, so storaged
// answered 503 "S3 endpoint ... is unavailable" with S3 up); and a key
// ending in storage.MinIODirSuffix, which MinIO stores as the key ending in
// "/" (PUT "x__XLDIR__", list "x/").
func checkKey(key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if strings.TrimSpace(key) == "" {
		return errs.Errorf("storage.key", errs.Invalid, "key %q: a key of only white space is not supported by the s3 backend (minio-go refuses it)", key)
	}
	if strings.HasSuffix(key, storage.MinIODirSuffix) {
		return storage.MinIODirSuffixError(key)
	}
	return nil
}

// PresignGet implements storage.Presigner: a URL that GETs key for expiry,
// signed with storaged's credentials (computed locally; S3 is not asked,
// with [s3].region set). It does not check that the object exists.
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	u, err := s.core.PresignedGetObject(ctx, s.cfg.Bucket, key, expiry, nil)
	if err != nil {
		return "", s.mapErr(ctx, "s3.presign", key, err)
	}
	return u.String(), nil
}

// Head implements storage.Store.Head.
func (s *Store) Head(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return storage.ObjectInfo{}, err
	}
	oi, err := s.core.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusBadRequest {
			// A HEAD's 400 has no body, so no S3 error code (MinIO refuses
			// a "." segment so): a one-byte GET gets the code.
			var gopts minio.GetObjectOptions
			_ = gopts.SetRange(0, 0)
			rc, _, _, gerr := s.core.GetObject(ctx, s.cfg.Bucket, key, gopts)
			if gerr == nil {
				rc.Close()
			} else if minio.ToErrorResponse(gerr).StatusCode == http.StatusBadRequest {
				err = gerr
			}
		}
		return storage.ObjectInfo{}, s.missing(ctx, "s3.head", key, err)
	}
	return toInfo(key, oi), nil
}

// Get implements storage.Store.Get.
func (s *Store) Get(ctx context.Context, key string, opts storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	const op = "s3.get"
	if err := checkKey(key); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	var gopts minio.GetObjectOptions
	ranged := opts.Offset > 0 || opts.Length > 0
	if opts.Offset < 0 {
		return nil, storage.ObjectInfo{}, errs.E(op, errs.Invalid, http.StatusRequestedRangeNotSatisfiable, "negative offset")
	}
	if ranged {
		end := int64(0) // 0 with start > 0 means "to the end" in minio-go
		if opts.Length > 0 {
			end = opts.Offset + opts.Length - 1
		}
		if opts.Offset == 0 {
			// SetRange(0, 0) would mean byte 0 only; a range from 0 is "bytes=0-end".
			if err := gopts.SetRange(0, end); err != nil {
				return nil, storage.ObjectInfo{}, errs.E(op, errs.Invalid, err.Error())
			}
		} else if err := gopts.SetRange(opts.Offset, end); err != nil {
			return nil, storage.ObjectInfo{}, errs.E(op, errs.Invalid, err.Error())
		}
	}
	// The body's reads are bounded by StallTimeout: a server that stops
	// sending mid-object ends the read (its cancel), named.
	gctx, cancel := context.WithCancel(ctx)
	rc, oi, hdr, err := s.core.GetObject(gctx, s.cfg.Bucket, key, gopts)
	if err != nil {
		cancel()
		mapped := s.mapErr(ctx, op, key, err)
		if ranged && errs.StatusOf(mapped) == http.StatusRequestedRangeNotSatisfiable {
			// Offset at or past the end. Offset == size is an empty read;
			// past it, the message names the size as the local backend's.
			if h, herr := s.Head(ctx, key); herr == nil {
				if opts.Offset == h.Size {
					return io.NopCloser(strings.NewReader("")), h, nil
				}
				mapped = errs.E(op, errs.Invalid, http.StatusRequestedRangeNotSatisfiable,
					fmt.Sprintf("range not satisfiable: the object has %d bytes", h.Size))
			}
		}
		return nil, storage.ObjectInfo{}, mapped
	}
	rc = storage.NamedBody(storage.StallGuard(rc, s.cfg.StallTimeout, cancel, op, s.where, key), op, s.where, key)
	info := toInfo(key, oi)
	if cr := hdr.Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				info.Size = n
			}
		}
	}
	return rc, info, nil
}

// GetSuffix implements storage.SuffixGetter with one GET of bytes=-n; the
// answer's Content-Range says the size and where the bytes start.
func (s *Store) GetSuffix(ctx context.Context, key string, n int64) (io.ReadCloser, storage.ObjectInfo, int64, error) {
	const op = "s3.get"
	if err := checkKey(key); err != nil {
		return nil, storage.ObjectInfo{}, 0, err
	}
	if n <= 0 {
		return nil, storage.ObjectInfo{}, 0, errs.E(op, errs.Invalid, http.StatusRequestedRangeNotSatisfiable, "suffix range of no bytes")
	}
	var gopts minio.GetObjectOptions
	if err := gopts.SetRange(0, -n); err != nil {
		return nil, storage.ObjectInfo{}, 0, errs.E(op, errs.Invalid, err.Error())
	}
	gctx, cancel := context.WithCancel(ctx)
	rc, oi, hdr, err := s.core.GetObject(gctx, s.cfg.Bucket, key, gopts)
	if err != nil {
		cancel()
		mapped := s.mapErr(ctx, op, key, err)
		if errs.StatusOf(mapped) == http.StatusRequestedRangeNotSatisfiable {
			// An empty object (S3 answers 416; MinIO a 206 of bytes 0--1/0).
			if h, herr := s.Head(ctx, key); herr == nil && h.Size == 0 {
				return io.NopCloser(strings.NewReader("")), h, 0, nil
			}
		}
		return nil, storage.ObjectInfo{}, 0, mapped
	}
	info := toInfo(key, oi)
	off := int64(0)
	if cr := hdr.Get("Content-Range"); cr != "" {
		// "bytes first-last/size"
		spec, total, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "/")
		first, _, _ := strings.Cut(spec, "-")
		size, err1 := strconv.ParseInt(total, 10, 64)
		start, err2 := strconv.ParseInt(first, 10, 64)
		if err1 != nil || err2 != nil || start < 0 || start > size {
			rc.Close()
			cancel()
			return nil, storage.ObjectInfo{}, 0, errs.Errorf(op, errs.Unavailable, "%s answered a suffix range with Content-Range %q", s.where, cr)
		}
		info.Size, off = size, start
		if size == 0 { // MinIO's "bytes 0--1/0": nothing to read
			rc.Close()
			cancel()
			return io.NopCloser(strings.NewReader("")), info, 0, nil
		}
	}
	rc = storage.NamedBody(storage.StallGuard(rc, s.cfg.StallTimeout, cancel, op, s.where, key), op, s.where, key)
	return rc, info, off, nil
}

// Delete implements storage.Store.Delete.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.core.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.mapErr(ctx, "s3.delete", key, err)
	}
	return nil
}

// List implements storage.Store.List (ListObjectsV2 with start-after).
// MinIO refuses a prefix or start-after holding a name no object can have
// (a "." or ".." segment, "//", a control character): "d/." still lists
// "d/.env". Such a listing asks for the part before that name (a prefix of
// it, so it holds every key wanted) and keeps the keys that match.
func (s *Store) List(ctx context.Context, opts storage.ListOptions) (storage.ListPage, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = storage.DefaultListLimit
	}
	limit = min(limit, storage.MaxListLimit)
	var page storage.ListPage
	token := ""
	after := opts.After
	if after != "" && after < opts.Prefix {
		after = "" // every key with the prefix is after it
	}
	prefix, startAfter := opts.Prefix, after
	filter := false // prefix or startAfter was cut: keep only the keys wanted
	for {
		if err := ctx.Err(); err != nil {
			return storage.ListPage{}, errs.E("s3.list", err)
		}
		want := min(limit+1-len(page.Objects), 1000)
		res, err := s.core.ListObjectsV2(s.cfg.Bucket, prefix, startAfter, token, "", want)
		if err != nil {
			if !filter && token == "" && refusedName(err) {
				p, a := listableName(prefix), listableName(startAfter)
				if p != prefix || a != startAfter {
					prefix, startAfter, filter = p, a, true
					continue
				}
			}
			if refusedName(err) {
				return storage.ListPage{}, errs.E("s3.list", errs.Invalid, fmt.Sprintf("prefix %q, after %q: S3 refused it (%s)",
					opts.Prefix, opts.After, minio.ToErrorResponse(err).Code))
			}
			return storage.ListPage{}, s.mapErr(ctx, "s3.list", "", err)
		}
		for _, o := range res.Contents {
			if filter {
				if o.Key <= after {
					continue
				}
				if !strings.HasPrefix(o.Key, opts.Prefix) {
					if o.Key > opts.Prefix {
						return page, nil // past every key with the prefix
					}
					continue
				}
			}
			info := toInfo(o.Key, o)
			info.ContentType = "" // a listing has none
			// S3 lists Last-Modified to the millisecond and a HEAD or GET
			// says it to the second: the listing says it as they do, so one
			// object has one modified time (as on the local backend).
			info.Modified = info.Modified.Truncate(time.Second)
			page.Objects = append(page.Objects, info)
			if len(page.Objects) > limit {
				page.Objects = page.Objects[:limit]
				page.Next = page.Objects[limit-1].Key
				return page, nil
			}
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			return page, nil
		}
		token = res.NextContinuationToken
	}
}

// refusedName reports S3's refusal of a name in the request (MinIO:
// XMinioInvalidResourceName for "." and "..", XMinioInvalidObjectName for
// "//" or a NUL).
func refusedName(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "XMinioInvalidResourceName", "XMinioInvalidObjectName", "XMinioObjectNameInvalid", "InvalidArgument":
		return true
	}
	return false
}

// listableName cuts name before its first part that S3 may refuse in a
// listing. MinIO refuses (cmd/generic-handlers.go hasBadPathComponent,
// IsValidObjectPrefix) a segment that is "." or ".." once the white space
// around it is trimmed — segments end at "/" and also at a backslash — complete
// or the unfinished last one ("d/ .", `a\..`), an empty segment between
// two "/", a control character. The result is a prefix of name.
func listableName(name string) string {
	if i := strings.IndexFunc(name, func(r rune) bool { return r < 0x20 }); i >= 0 {
		name = name[:i]
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' || name[i] == '\\' {
			seg := name[start:i]
			if dots := trimSpaceBytes(seg); dots == "." || dots == ".." || (seg == "" && i < len(name) && name[i] == '/' && (start == 0 || name[start-1] == '/')) {
				return name[:start]
			}
			start = i + 1
		}
	}
	return name
}

// trimSpaceBytes trims the bytes MinIO trims around a segment: each byte b
// with unicode.IsSpace(rune(b)).
func trimSpaceBytes(s string) string {
	for s != "" && unicode.IsSpace(rune(s[0])) {
		s = s[1:]
	}
	for s != "" && unicode.IsSpace(rune(s[len(s)-1])) {
		s = s[:len(s)-1]
	}
	return s
}
