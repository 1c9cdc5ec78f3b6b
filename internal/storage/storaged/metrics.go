package storaged

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// metrics are storaged's domain metrics on /metrics (ADR-160). Labels are
// bounded: op (get, put, head, delete, list), backend (local, s3), via
// (http, socket), kind (an errs.Kind); never a key.
type metrics struct {
	bytes   *prometheus.CounterVec // op (get|put), backend, via
	objects *prometheus.CounterVec // op (get|put|delete), backend, via
	errors  *prometheus.CounterVec // backend, op, kind
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_storaged_bytes_total",
			Help: "Object bytes read (op=get) and written (op=put) by backend and path: via=http the bodies storaged sent or stored; via=socket the size of objects committed (put) or opened by key (get) through the short-circuit socket; socket clients mostly open files themselves under the data root, reads storaged never sees."},
			[]string{"op", "backend", "via"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_storaged_objects_total",
			Help: "Objects read (op=get), stored (op=put) and deleted (op=delete) by backend and path (http or socket); failed operations are not counted."},
			[]string{"op", "backend", "via"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_storaged_backend_errors_total",
			Help: "Errors the backend returned, by operation (get, put, head, delete, list) and kind (not_found, invalid, conflict, unavailable, timeout, internal...); not_found on get and head is a caller's question answered."},
			[]string{"backend", "op", "kind"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.bytes, m.objects, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, errs.E("storaged", errs.Internal, err)
			}
		}
	}
	return m, nil
}

// failed counts err (if any) of op; it returns err.
func (m *metrics) failed(backend, op string, err error) error {
	if err != nil {
		m.errors.WithLabelValues(backend, op, string(errs.KindOf(err))).Inc()
	}
	return err
}

// metered is a Store counting what storaged's HTTP API moves through it.
// It implements storage.SuffixGetter (both backends do); the variants
// below add ConditionalDeleter (local) and Presigner (s3), so storage's
// type checks find what the backend has and nothing more.
type metered struct {
	st      storage.Store
	backend string
	m       *metrics
}

func (s *metered) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) (storage.ObjectInfo, error) {
	info, err := s.st.Put(ctx, key, r, size, opts)
	if s.m.failed(s.backend, "put", err) == nil {
		s.m.objects.WithLabelValues("put", s.backend, "http").Inc()
		s.m.bytes.WithLabelValues("put", s.backend, "http").Add(float64(info.Size))
	}
	return info, err
}

func (s *metered) Get(ctx context.Context, key string, opts storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	rc, info, err := s.st.Get(ctx, key, opts)
	if s.m.failed(s.backend, "get", err) != nil {
		return rc, info, err
	}
	return s.counting(rc), info, nil
}

func (s *metered) GetSuffix(ctx context.Context, key string, n int64) (io.ReadCloser, storage.ObjectInfo, int64, error) {
	rc, info, off, err := s.st.(storage.SuffixGetter).GetSuffix(ctx, key, n)
	if s.m.failed(s.backend, "get", err) != nil {
		return rc, info, off, err
	}
	return s.counting(rc), info, off, nil
}

func (s *metered) Head(ctx context.Context, key string) (storage.ObjectInfo, error) {
	info, err := s.st.Head(ctx, key)
	return info, s.m.failed(s.backend, "head", err)
}

func (s *metered) Delete(ctx context.Context, key string) error {
	err := s.st.Delete(ctx, key)
	if s.m.failed(s.backend, "delete", err) == nil {
		s.m.objects.WithLabelValues("delete", s.backend, "http").Inc()
	}
	return err
}

func (s *metered) List(ctx context.Context, opts storage.ListOptions) (storage.ListPage, error) {
	p, err := s.st.List(ctx, opts)
	return p, s.m.failed(s.backend, "list", err)
}

// counting counts a Get's object and the bytes read from it.
func (s *metered) counting(rc io.ReadCloser) io.ReadCloser {
	s.m.objects.WithLabelValues("get", s.backend, "http").Inc()
	cr := &countingReader{rc: rc, c: s.m.bytes.WithLabelValues("get", s.backend, "http")}
	if _, ok := rc.(io.WriterTo); ok {
		return countingWriterTo{cr} // the local file's WriteTo: sendfile(2) (storage.copyOut)
	}
	return cr
}

// countingReader adds the bytes read to c at Close (one atomic add per
// body, not per read).
type countingReader struct {
	rc   io.ReadCloser
	c    prometheus.Counter
	n    int64
	done atomic.Bool
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n += int64(n)
	return n, err
}

func (r *countingReader) Close() error {
	if !r.done.Swap(true) {
		r.c.Add(float64(r.n))
	}
	return r.rc.Close()
}

// countingWriterTo keeps the body's WriteTo.
type countingWriterTo struct{ *countingReader }

func (r countingWriterTo) WriteTo(w io.Writer) (int64, error) {
	n, err := r.rc.(io.WriterTo).WriteTo(w)
	r.n += n
	return n, err
}

type meteredCD struct{ *metered }

func (s meteredCD) DeleteWith(ctx context.Context, key string, opts storage.DeleteOptions) error {
	err := s.st.(storage.ConditionalDeleter).DeleteWith(ctx, key, opts)
	if s.m.failed(s.backend, "delete", err) == nil {
		s.m.objects.WithLabelValues("delete", s.backend, "http").Inc()
	}
	return err
}

type meteredPresign struct{ *metered }

func (s meteredPresign) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	return s.st.(storage.Presigner).PresignGet(ctx, key, expiry)
}

// meteredBoth is for a backend with both (neither has today).
type meteredBoth struct{ *metered }

func (s meteredBoth) DeleteWith(ctx context.Context, key string, opts storage.DeleteOptions) error {
	return meteredCD(s).DeleteWith(ctx, key, opts)
}

func (s meteredBoth) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	return meteredPresign(s).PresignGet(ctx, key, expiry)
}

// meter wraps st for storage.Routes.
func meter(st storage.Store, backend string, m *metrics) storage.Store {
	base := &metered{st: st, backend: backend, m: m}
	_, cd := st.(storage.ConditionalDeleter)
	_, ps := st.(storage.Presigner)
	switch {
	case cd && ps:
		return meteredBoth{base}
	case cd:
		return meteredCD{base}
	case ps:
		return meteredPresign{base}
	}
	return base
}
