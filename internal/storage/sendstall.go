package storage

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// SendStall bounds how long a streamed GET's answer may go without a byte
// taken by its client (nginx's send_timeout, 60 s): a client that sent
// its GET and never read the answer kept the handler, the object's file
// or S3 connection and the client connection for as long as it stayed
// connected. It bounds a silence, never the transfer: a slow client that
// keeps reading gets the whole object. With [storaged].write_timeout set
// that bound is in charge and this one is off. A variable for tests
// (export_test.go).
var sendStall = SendStall

// SendStall is storaged's bound on a client that takes no byte of an
// answer (nginx's send_timeout): its streamed GETs' (sendStall) and its
// short-circuit socket's answers'.
const SendStall = 60 * time.Second

// streamOut copies the object rc to w (its head written), its writes
// bounded by sendStall without progress unless the server has a
// WriteTimeout. Errors: the copy's; a Timeout naming the stall when the
// client took nothing for it (the connection is then closed by net/http:
// fewer bytes than Content-Length).
//
// A reader with WriteTo (the local backend's file: sendfile(2)) pays one
// deadline set per GET and nothing per write: the deadline is moved only
// when it expires, and only if bytes moved since it was set, so a client
// is cut once a whole window of sendStall passes with no byte taken
// (after between sendStall and twice it without progress). A deadline
// error of sendfile is not sticky in net/http, so the copy goes on where
// it stopped. Any other reader (an S3 body) is copied through a pooled
// 256 KiB buffer, each piece's write starting with the deadline moved as
// shared.StallPacer paces it (a clock read per piece, a deadline move at
// most once a second): net/http's buffered write path keeps a deadline
// error for good, so the deadline must be ahead before each write.
func streamOut(w http.ResponseWriter, r *http.Request, rc io.Reader) (int64, error) {
	stall := sendStall
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.WriteTimeout > 0 {
		stall = 0
	}
	if stall <= 0 {
		return copyOut(w, rc)
	}
	ctl := http.NewResponseController(w)
	if wt, ok := rc.(io.WriterTo); ok {
		if ctl.SetWriteDeadline(time.Now().Add(stall)) != nil {
			return copyOut(w, rc) // not a connection (a recorder): nothing to bound
		}
		var done, armed int64
		for {
			n, err := wt.WriteTo(w)
			done += n
			if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
				return done, err
			}
			if done == armed {
				return done, sendCut(w, stall, err)
			}
			armed = done
			if ctl.SetWriteDeadline(time.Now().Add(stall)) != nil {
				return done, err
			}
		}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var pace shared.StallPacer
	bounded := true
	var done int64
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if bounded {
				if now := time.Now(); pace.Due(now, stall) && ctl.SetWriteDeadline(now.Add(stall)) != nil {
					bounded = false
				}
			}
			m, werr := w.Write(buf[:n])
			done += int64(m)
			if werr != nil {
				if errors.Is(werr, os.ErrDeadlineExceeded) {
					werr = sendCut(w, stall, werr)
				}
				return done, werr
			}
		}
		if rerr == io.EOF {
			return done, nil
		}
		if rerr != nil {
			return done, rerr
		}
	}
}

// sendCut is the error of a GET to w whose client took nothing for
// stall; the cut shows in the request's access line and metrics
// (shared.AnswerCut).
func sendCut(w http.ResponseWriter, stall time.Duration, err error) error {
	shared.AnswerCut(w, stall)
	return errs.E("storage.get", errs.Timeout, fmt.Sprintf("the client took no byte of the answer for %v; connection closed", stall), err)
}
