package catalog_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// delayProxy is a TCP relay on 127.0.0.1 in front of a real server (here
// MinIO) that holds each chunk a client sends for delay before passing it
// on: every request reaches the server delay later, as over a network
// with that much latency one way (AWS S3 answers a small GET in 10-50 ms
// of first-byte latency). Answers pass unchanged. It counts the chunks
// held at once (peak): the requests a client had in flight.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds; 0: none
	held   atomic.Int64
	peak   atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn // closed at the end: idle keep-alive connections stay open
	closed bool
}

func startDelayProxy(t *testing.T, target string) *delayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Addr is host:port of the relay.
func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// SetDelay sets the delay of every chunk sent from now on and resets the
// peak.
func (p *delayProxy) SetDelay(d time.Duration) {
	p.delay.Store(int64(d))
	p.peak.Store(0)
}

// Peak is the most chunks held at once since SetDelay.
func (p *delayProxy) Peak() int64 { return p.peak.Load() }

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(c, s)
			c.Close()
		}()
		go func() {
			defer p.wg.Done()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if d := time.Duration(p.delay.Load()); d > 0 {
						h := p.held.Add(1)
						for {
							pk := p.peak.Load()
							if h <= pk || p.peak.CompareAndSwap(pk, h) {
								break
							}
						}
						time.Sleep(d)
						p.held.Add(-1)
					}
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
