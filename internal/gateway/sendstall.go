package gateway

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"time"

	"lakehouse-go/internal/shared"
)

// clientSendStall bounds how long the gateway's writes to a client may
// go without the client taking a byte (nginx's send_timeout, 60 s): a
// client that sent GET /v1/storage/<a big object> and never read the
// answer kept the request in flight at the gateway, and so at the daemon
// (storaged's read of the object, its S3 connection), for as long as it
// stayed connected. It bounds a silence, never a transfer: a slow client
// that keeps reading gets the whole answer. Not a config key: DESIGN.md
// names none, nginx's default is the bound every deployment wants, and an
// operator who wants a bound on whole answers has [gateway].write_timeout,
// which replaces this one when set. A variable for tests.
var clientSendStall = 60 * time.Second

// sendStallFor is the send stall of a server whose WriteTimeout is wt:
// none when wt bounds the writes already.
func sendStallFor(wt time.Duration) time.Duration {
	if wt > 0 {
		return 0
	}
	return clientSendStall
}

// sendBound is the send stall of one client connection, on the fast path
// (fconn) and on the net/http path (clConn) alike. A write deadline is set
// once, when the connection starts, and moved only when it expires: a
// write that then fails with the deadline goes on, after the deadline is
// moved to the stall from now, unless the write was already going on from
// the last move and no byte left since. So the cut comes once a whole
// stall passed with a write waiting and nothing taken (after between one
// and two stalls without progress), and a connection pays nothing per
// request or write: no clock read, no deadline move, but one move per
// stall while it writes. A deadline error from the socket is not kept by
// the raw writer, so the write goes on where it stopped.
type sendBound struct {
	stall   time.Duration // 0: off
	on      bool          // the deadline is set and ours
	at      int64         // bytes written when it was last moved
	inWrite bool          // last moved by a write that went on waiting
	cut     bool          // the stall ended the connection's write
}

// arm sets the first deadline, stall after now.
func (b *sendBound) arm(nc net.Conn, now time.Time, sent int64) {
	if b.stall <= 0 || b.on {
		return
	}
	if nc.SetWriteDeadline(now.Add(b.stall)) == nil {
		b.on, b.at, b.inWrite = true, sent, false
	}
}

// again decides on a write to nc that failed with err, *sent bytes
// written on the connection in all: true when the deadline was moved and
// the write should go on; false when err stands (not the deadline, or a
// whole stall without a byte taken: cut).
func (b *sendBound) again(nc net.Conn, err error, sent int64) bool {
	if !b.on || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if b.inWrite && sent == b.at {
		b.cut = true
		return false
	}
	if nc.SetWriteDeadline(time.Now().Add(b.stall)) != nil {
		return false
	}
	b.at, b.inWrite = sent, true
	return true
}

// logCut logs a connection the stall ended.
func (b *sendBound) logCut(log *slog.Logger, peer, reqID string) {
	if log != nil {
		log.Warn("client took no byte of the answer; connection closed", "op", "proxy", "peer", peer, "req_id", reqID, "stall", b.stall.String())
	}
}

// sendStalled is the rest of fconn.Write after a write failed with err,
// n of p written.
func (c *fconn) sendStalled(p []byte, n int, err error) (int, error) {
	for c.send.again(c.nc, err, c.sent) {
		var m int
		m, err = c.w.Write(p[n:])
		n += m
		c.sent += int64(m)
		if err == nil {
			return n, nil
		}
	}
	if c.send.cut {
		c.send.logCut(c.f.log, c.remote, c.ri.ReqID)
		// c.send.cut stays set: relay tells the request's access line and
		// metrics (cutAnswer). The connection ends here.
	}
	return n, err
}

// cutAnswer marks ri, whose relayed answer (of total body bytes when
// sized, else unknown) the send stall cut: its access line keeps the
// status sent and gets err with the body bytes that reached the client's
// socket (ri.Bytes now), lakehouse_http_answers_cut_total counts it, and
// its outcome is client_stalled. The bytes are what relayBody handed on
// less what c.bw still holds or did not take (c.bw's head bytes among
// them while the head was not out: then none of the body left). Only a
// cut pays for this: a request's cost is serveProxy's test of ri.Cut.
//
// A cut by [gateway].write_timeout (the send stall is off then) is told
// the same way, its err naming the write_timeout (cutBy).
func (c *fconn) cutAnswer(ri *shared.RequestInfo, sized bool, total int64) {
	c.send.cut = false
	ri.Bytes = max(0, ri.Bytes-c.unsent-int64(c.bw.Buffered()))
	c.unsent = 0
	if !sized {
		total = -1
	}
	if c.send.stall > 0 {
		ri.Cut = shared.CutMessage(c.send.stall, ri.Bytes, total)
	} else {
		ri.Cut = shared.WriteTimeoutMessage(c.f.writeTimeout, ri.Bytes, total)
	}
}

// cutBy reports whether err, a write to the client that failed, is a
// cut: the send stall's, or the expired deadline of [gateway].
// write_timeout (set per request when the stall is off).
func (c *fconn) cutBy(err error) bool {
	return c.send.cut || c.f.writeTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded)
}
