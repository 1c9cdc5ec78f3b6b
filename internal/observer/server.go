package observer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// KeepAlive is the interval of SSE keep-alive comments on an idle stream.
const KeepAlive = 15 * time.Second

// streamWriteTimeout bounds one write to a stream client; a client that
// stops reading for that long is disconnected.
const streamWriteTimeout = 30 * time.Second

// New is observerd's constructor for shared.Run: an Observer over
// [observerd].state_path (default <data_dir>/observerd/ops.jsonl) with a ring
// of [observerd].ring_size events.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	cfg := env.Config
	o, err := Open(Options{
		Path:     cfg.DataPath(cfg.Observerd.StatePath, "observerd/ops.jsonl"),
		RingSize: cfg.Observerd.RingSize,
		Log:      env.Log,
		Metrics:  env.Metrics,
	})
	if err != nil {
		return nil, err
	}
	return &shared.Daemon{Routes: Routes(env, o, KeepAlive), Close: o.Close}, nil
}

// Routes registers observerd's routes over o: all of them, in one place.
// keepAlive is the SSE keep-alive interval (KeepAlive outside tests).
func Routes(env *shared.Env, o *Observer, keepAlive time.Duration) func(r chi.Router) {
	h := &handlers{o: o, keepAlive: keepAlive}
	return func(r chi.Router) {
		r.Post(EventsPath, env.Handle(h.ingest))
		r.Get(EventsPath, env.Handle(h.events))
		r.Get(StatsPath, env.Handle(h.stats))
		r.Get(StreamPath, env.Handle(h.stream))
	}
}

type handlers struct {
	o         *Observer
	keepAlive time.Duration
	onShut    sync.Once
}

func (h *handlers) ingest(w http.ResponseWriter, r *http.Request) error {
	if r.URL.RawQuery != "" {
		if _, err := queryValues(r, "observer.ingest", func([]string) string { return "the events go in the JSON body" }); err != nil {
			return err
		}
	}
	// The body is kept (up to maxPathBody) so that a decoding error can be
	// told by the event and field it is in (eventPaths): encoding/json
	// names neither the index nor, for a time, the field.
	keep := &capBuffer{max: maxPathBody}
	body := io.TeeReader(r.Body, keep)
	dr := r.Clone(r.Context())
	dr.Body = io.NopCloser(body)
	var req IngestRequest
	// Exact: attrs numbers stay json.Number, so 9007199254740993 is
	// answered, streamed and persisted as sent (a float64 made it ...992).
	if err := shared.DecodeJSONExact(dr, &req); err != nil {
		if errs.KindOf(err) == errs.Invalid {
			// the rest of the body (the decoder stops at the error)
			if _, rerr := io.Copy(io.Discard, body); rerr == nil && !keep.over {
				if perr := eventPaths(keep.Bytes()); perr != nil {
					return perr
				}
			}
		}
		return err
	}
	res, err := h.o.Ingest(r.Context(), req.Events)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

// queryValues: the named query parameters of r, each at most once
// (shared.QueryOnce; service=a&service=b answered a's events only), and no
// other (ADR-097: a misspelt ?servce=x answered every service, ?limt=5 the
// default). hint adds to the message naming unknown parameters.
func queryValues(r *http.Request, op string, hint func([]string) string, names ...string) ([]string, error) {
	return shared.QueryParams(op, r.URL.RawQuery, hint, names...)
}

// streamHint: the stream sends the events that arrive from now on; since
// (and limit) select from the ring, which GET /v1/observer/events answers.
func streamHint(unknown []string) string {
	for _, k := range unknown {
		if k == "since" || k == "limit" {
			return "the stream sends events as they arrive from now on; GET " + EventsPath + "?since=...&limit=... answers the recent past"
		}
	}
	return ""
}

// MaxSince is the longest duration since may give (ADR-088): the ring
// holds recent operations (events that ended at most MaxEventAge before
// they arrived), so a duration of years is a mistake (since=1000000h), not
// a question; the whole ring is since left out.
const MaxSince = 366 * 24 * time.Hour

// parseFilter reads service, op, request_id and, when the route takes it, since, then
// the route's other parameters (each at most once, no other; their values
// are returned in order). service and op obey the rule of what an event
// may hold (checkLabel): a value no event can hold is a mistake, not a
// question. since is an RFC 3339 time or a Go duration meaning "that long
// ago" (since=5m), at most MaxSince.
func parseFilter(r *http.Request, now time.Time, op string, hint func([]string) string, since bool, more ...string) (Filter, []string, error) {
	names := []string{"service", "op", "request_id"}
	if since {
		names = append(names, "since")
	}
	names = append(names, more...)
	v, err := queryValues(r, op, hint, names...)
	if err != nil {
		return Filter{}, nil, err
	}
	f := Filter{Service: v[0], Op: v[1], RequestID: v[2]}
	v = append(v[:2:2], v[3:]...) // the rest in the order the code below reads them
	var p []string
	for _, c := range []struct {
		field, v string
		max      int
	}{{"service", f.Service, MaxServiceLen}, {"op", f.Op, MaxOpLen}, {"request_id", f.RequestID, MaxRequestIDLen}} {
		if c.v == "" {
			continue
		}
		if msg := checkLabel(c.v, c.max); msg != "" {
			p = append(p, c.field+": "+msg)
		}
	}
	if len(p) > 0 {
		return f, nil, errs.E(op, errs.Invalid, strings.Join(p, "; "))
	}
	if !since {
		return f, v[2:], nil
	}
	if s := v[2]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			if d > MaxSince {
				return f, nil, errs.Errorf(op, errs.Invalid, "since %q: a duration of at most %dh (%d days); the ring holds recent operations, leave since out for all of it", s, int(MaxSince.Hours()), int(MaxSince.Hours())/24)
			}
			f.Since = now.Add(-d)
		} else {
			return f, nil, errs.Errorf(op, errs.Invalid, "since %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration (15m)", s)
		}
	}
	return f, v[3:], nil
}

func (h *handlers) events(w http.ResponseWriter, r *http.Request) error {
	f, v, err := parseFilter(r, h.o.now(), "observer.events", nil, true, "limit")
	if err != nil {
		return err
	}
	limit := 0
	if s := v[0]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return errs.Errorf("observer.events", errs.Invalid, "limit %q: want a positive integer", s)
		}
		limit = n
	}
	evs, err := h.o.Events(r.Context(), f, limit)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, EventsResponse{Events: evs, Order: OrderNewestFirst})
}

func (h *handlers) stats(w http.ResponseWriter, r *http.Request) error {
	f, _, err := parseFilter(r, h.o.now(), "observer.stats", nil, true)
	if err != nil {
		return err
	}
	st, err := h.o.Stats(r.Context(), f)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, st)
}

// stream serves GET /v1/observer/stream (ADR-051): "data: {event}\n\n" per
// event as it arrives, ": keep-alive" comments when idle, a ": lagged"
// comment when this client lost events, flushed after every burst so the
// gateway passes it through at once. It ends when the client goes away or
// observerd starts shutting down.
func (h *handlers) stream(w http.ResponseWriter, r *http.Request) error {
	f, _, err := parseFilter(r, h.o.now(), "observer.stream", streamHint, false)
	if err != nil {
		return err
	}
	// Shutdown waits for active connections; a stream never finishes by
	// itself, so end the streams when the server starts shutting down.
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		h.onShut.Do(func() { srv.RegisterOnShutdown(h.o.hub.close) })
	}
	s, err := h.o.hub.subscribe(f)
	if err != nil {
		return err
	}
	defer h.o.hub.unsubscribe(s)

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	buf := []byte(": connected\n\n")
	send := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send() {
		return nil
	}
	tick := time.NewTicker(h.keepAlive)
	defer tick.Stop()
	for {
		buf = buf[:0]
		select {
		case <-r.Context().Done():
			return nil
		case <-h.o.hub.done:
			return nil
		case <-tick.C:
			buf = append(buf, ": keep-alive\n\n"...)
		case e := <-s.ch:
			buf = appendEvent(buf, &e)
		more:
			for len(buf) < 64<<10 {
				select {
				case e := <-s.ch:
					buf = appendEvent(buf, &e)
				default:
					break more
				}
			}
			if n := s.dropped.Swap(0); n > 0 {
				buf = append(buf, ": lagged: "...)
				buf = strconv.AppendInt(buf, n, 10)
				buf = append(buf, " events dropped for this slow client\n\n"...)
			}
		}
		if !send() {
			return nil
		}
	}
}

func appendEvent(buf []byte, e *Event) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		return buf
	}
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	return append(buf, '\n', '\n')
}
