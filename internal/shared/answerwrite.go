package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"lakehouse-go/internal/errs"
)

// AnswerStall is how long the write of a whole (non-streamed) answer may
// go without progress before its connection is cut: the bound of
// WriteAnswer, WriteJSONAnswer and WriteJSON, so of every daemon's JSON
// answers. 30 s, as storaged's stall_timeout and observerd's stream
// writes. DESIGN.md names no key for it: a documented constant, a
// variable only so that tests can shorten it (as ClientBodyTimeout).
var AnswerStall = 30 * time.Second

// answerPiece is how much of an answer one write hands the connection.
// The write sees progress when the kernel takes more of it, which Linux
// does once the client drained about a third of the connection's send
// buffer (autotuned: up to 4 MiB with the default tcp_wmem): a client is
// cut when it drains less than that within the stall — with 4 MiB and
// 30 s, a client slower than about 45 KB/s — not when it reads slowly
// but faster than that.
const answerPiece = 64 << 10

// WriteAnswer writes status and body, the whole answer (its headers set,
// Content-Length too when not yet), so that the write may not wait more
// than AnswerStall without progress: each 64 KiB piece must be taken by
// the connection within AnswerStall of the last deadline move
// (moved as StallPacer paces it). A client that sends its request and
// never reads the answer (its socket buffers full) kept the handler's
// goroutine, the answer's buffer and the connection for as long as it
// stayed connected; now the write fails after AnswerStall and net/http closes
// the connection. A slow client that keeps reading gets the whole answer,
// however long it takes. When the server has a WriteTimeout ([<daemon>].
// write_timeout), that bound is in charge and no deadline is moved.
// net/http clears the write deadline when the request ends, so a
// kept-alive connection's next request is unaffected.
//
// Errors: the write's; a Timeout naming the stall when it was cut.
func WriteAnswer(w http.ResponseWriter, r *http.Request, status int, body []byte) error {
	return writeAnswer(w, !hasWriteTimeout(r), status, body)
}

// WriteJSONAnswer is WriteJSON through WriteAnswer: v as JSON with status,
// its write bounded by AnswerStall without progress.
func WriteJSONAnswer(w http.ResponseWriter, r *http.Request, status int, v any) error {
	b, err := marshalAnswer(w, v)
	if err != nil {
		return err
	}
	return WriteAnswer(w, r, status, b)
}

// hasWriteTimeout reports whether r's server has a WriteTimeout: that
// bound is then in charge of r's answer.
func hasWriteTimeout(r *http.Request) bool { return writeTimeout(r) > 0 }

// writeTimeout is r's server's WriteTimeout (0: none, or no server).
func writeTimeout(r *http.Request) time.Duration {
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		return srv.WriteTimeout
	}
	return 0
}

// marshalAnswer is v as JSON and a newline, w's Content-Type set (not
// when v does not encode: an Internal error, nothing set).
func marshalAnswer(w http.ResponseWriter, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errs.E("encode", errs.Internal, err)
	}
	w.Header().Set("Content-Type", "application/json")
	return append(b, '\n'), nil
}

// writeAnswer is WriteAnswer; bounded is false when the server's
// WriteTimeout is in charge (no deadline is moved then).
func writeAnswer(w http.ResponseWriter, bounded bool, status int, body []byte) error {
	stall := AnswerStall
	h := w.Header()
	if h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	ctl := http.NewResponseController(w)
	var pace StallPacer
	move := func() {
		if bounded && pace.Due(time.Now(), stall) {
			if ctl.SetWriteDeadline(time.Now().Add(stall)) != nil {
				bounded = false // not a connection (a recorder): nothing to bound
			}
		}
	}
	move()
	w.WriteHeader(status)
	for len(body) > 0 {
		n := min(len(body), answerPiece)
		move()
		if _, err := w.Write(body[:n]); err != nil {
			return answerErr(w, bounded, err, stall)
		}
		body = body[n:]
	}
	if pace.Moved() && bounded {
		// The last piece may sit in net/http's buffers: out now, under the
		// same bound, so the handler's end does not wait unbounded.
		move()
		if err := ctl.Flush(); err != nil {
			return answerErr(w, bounded, err, stall)
		}
	}
	return nil
}

// answerErr is the error of an answer's write to w that failed with err;
// a cut when bounded and the deadline stopped it (AnswerCut).
func answerErr(w http.ResponseWriter, bounded bool, err error, stall time.Duration) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if !bounded {
			// The server's WriteTimeout (the harness's writer marked the
			// cut: statusWriter.wroteErr).
			return errs.E("answer", errs.Timeout, "the answer's write passed the server's write_timeout; connection closed", err)
		}
		AnswerCut(w, stall)
		return errs.E("answer", errs.Timeout, fmt.Sprintf("the client took none of the answer for %v; connection closed", stall), err)
	}
	return err
}

// AnswerCut records that the answer being written to w (the harness's
// writer, or a daemon's wrapper of it) was cut short because its client
// took no byte for stall, its head already sent: the request's access line
// keeps the status sent and gets err (CutMessage: the body bytes written
// and, when the head has a Content-Length, of how many), and
// lakehouse_http_answers_cut_total{route} counts it. Without it a cut
// answer's access line read as a success (200, no err). A writer that is
// not the harness's is left alone.
func AnswerCut(w http.ResponseWriter, stall time.Duration) {
	s := harnessWriter(w)
	if s == nil {
		return
	}
	s.cut = CutMessage(stall, s.bytes, contentLength(s.Header()))
}

// IsCut reports whether the answer being written to w (the harness's
// writer, or a daemon's wrapper of it) is marked cut (AnswerCut, or the
// server's write_timeout stopped a write of it).
func IsCut(w http.ResponseWriter) bool {
	s := harnessWriter(w)
	return s != nil && s.cut != ""
}

// CutMessage is the access line's err of an answer cut after sent body
// bytes of total (< 0: unknown) because its client took no byte for
// stall: "client took no byte for 30s: answer cut at 4194304 of 12500000
// bytes".
func CutMessage(stall time.Duration, sent, total int64) string {
	return cutMessage("client took no byte for ", stall, sent, total)
}

// WriteTimeoutMessage is the access line's err of an answer cut after
// sent body bytes of total (< 0: unknown) because the server's
// WriteTimeout ([<daemon>].write_timeout, wt) passed while it was
// written: "write timed out after write_timeout 5s: answer cut at 0 of 81
// bytes".
func WriteTimeoutMessage(wt time.Duration, sent, total int64) string {
	return cutMessage("write timed out after write_timeout ", wt, sent, total)
}

// cutMessage is why, d in seconds, then where the answer was cut.
func cutMessage(why string, d time.Duration, sent, total int64) string {
	b := make([]byte, 0, 96)
	b = append(b, why...)
	b = strconv.AppendFloat(b, d.Seconds(), 'f', -1, 64)
	b = append(b, "s: answer cut at "...)
	b = strconv.AppendInt(b, sent, 10)
	if total >= 0 {
		b = append(b, " of "...)
		b = strconv.AppendInt(b, total, 10)
	}
	b = append(b, " bytes"...)
	return string(b)
}
