package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// The gateway's domain metrics (lakehouse_gateway_*, ADR-162's rules:
// labels only from bounded sets — service is one of the ten daemons behind
// the gateway, outcome one of outcomeNames).
//
// The proxied path is the gateway's hot path (ADR-070, ADR-071): what it
// pays per request is one plain atomic add on a counter of its own daemon's
// proxy (an array index by a small constant, no label lookup, no map, no
// allocation), and one more for a pooled connection's reuse. The values are
// turned into samples only at scrape time (collector.Collect), every label
// set present from the start at 0.

// outcome is how a request the gateway forwarded to a daemon (or tried to)
// ended for its client.
type outcome uint8

const (
	outOK            outcome = iota // the daemon's answer, 1xx-3xx, relayed
	out4xx                          // the daemon's 4xx, relayed
	out5xx                          // the daemon's 5xx, relayed (its own 502/503/504 too)
	outUnreachable                  // the gateway's 502: no connection, or no usable answer
	outTimeout                      // the gateway's 504: a bound on the daemon's answer or the gateway's request_timeout ran out
	outClientGone                   // the client left before an answer began (499)
	outClientError                  // the gateway's 400/408/413: the client's body broke, stalled or was too large on the way
	outClientStalled                // the daemon's answer was cut: the client took no byte of it for the send stall (sendBound)
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "4xx", "5xx", "unreachable", "timeout", "client_gone", "client_error", "client_stalled"}

// relayedOutcome is the outcome of a daemon's answer of status st relayed
// to the client.
func relayedOutcome(st int) outcome {
	switch {
	case st >= 500:
		return out5xx
	case st >= 400:
		return out4xx
	}
	return outOK
}

// ownOutcome is the outcome of the gateway's own answer of status st (0:
// none was written, the client had gone) to a forwarded request.
func ownOutcome(st int) outcome {
	switch st {
	case 502:
		return outUnreachable
	case 504:
		return outTimeout
	case 0, errs.StatusClientClosed:
		return outClientGone
	}
	return outClientError
}

// proxyStats are one daemon's request outcomes. The padding keeps them off
// the cache lines of the proxy's other fields, which every request reads:
// an add from one core then invalidates nothing another core reads.
type proxyStats struct {
	_   [64]byte
	out [nOutcomes]atomic.Uint64
	_   [64]byte
}

// count adds one request of outcome o.
func (s *proxyStats) count(o outcome) { s.out[o].Add(1) }

// countAnswer adds the request whose client got status st: the daemon's
// answer when relayed, else the gateway's own.
func (s *proxyStats) countAnswer(relayed bool, st int) {
	if relayed {
		s.count(relayedOutcome(st))
	} else {
		s.count(ownOutcome(st))
	}
}

// upStats are one upstream pool's connection counts.
type upStats struct {
	dials    atomic.Uint64 // connections opened
	dialErrs atomic.Uint64 // dials that failed
	reuses   atomic.Uint64 // requests sent on a pooled connection
}

// idleCount is the number of pooled connections now.
func (u *upstream) idleCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.idle)
}

// healthReuse: a scrape within this long of the last one's probes reads
// their result instead of probing every daemon again (two Prometheus
// servers, or a scrape right after another).
const healthReuse = time.Second

// collector serves the lakehouse_gateway_* metrics.
type collector struct {
	g       *gateway
	proxies []*proxy // one per daemon, in Routes order

	requests, dials, dialErrs, reuses, idle, up *prometheus.Desc

	mu     sync.Mutex // one round of probes at a time
	last   map[string]DaemonHealth
	lastAt time.Time
}

func newCollector(g *gateway, proxies []*proxy) *collector {
	svc := []string{"service"}
	return &collector{
		g: g, proxies: proxies,
		requests: prometheus.NewDesc("lakehouse_gateway_upstream_requests_total",
			"Proxied requests the gateway forwarded to a daemon or tried to, by service and outcome: ok, 4xx, 5xx (the daemon's answer, relayed), unreachable (the gateway's 502: no connection or no usable answer), timeout (the gateway's 504), client_gone (the client left before an answer, 499), client_error (the client's body broke, stalled or was too large on the way: the gateway's 400, 408, 413), client_stalled (the daemon's answer was cut short: the client took no byte of it for 60 s). Requests refused before forwarding (auth, allowed_ips, body limit by Content-Length) are not counted.",
			[]string{"service", "outcome"}, nil),
		dials: prometheus.NewDesc("lakehouse_gateway_upstream_dials_total",
			"Connections the gateway opened to a daemon, by service.", svc, nil),
		dialErrs: prometheus.NewDesc("lakehouse_gateway_upstream_dial_errors_total",
			"Connections to a daemon that could not be opened, by service.", svc, nil),
		reuses: prometheus.NewDesc("lakehouse_gateway_upstream_reuses_total",
			"Requests sent to a daemon on a pooled keep-alive connection, by service (the rest went on a connection dialed for them).", svc, nil),
		idle: prometheus.NewDesc("lakehouse_gateway_upstream_idle_connections",
			"Keep-alive connections to a daemon waiting in the gateway's pool, by service.", svc, nil),
		up: prometheus.NewDesc("lakehouse_gateway_daemon_up",
			"1 when the daemon's GET /health answered status ok to the gateway at scrape time (as GET /v1/health asks it), else 0 (down, degraded, draining, or no valid answer within [gateway].health_timeout), by service.", svc, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.dials, c.dialErrs, c.reuses, c.idle, c.up} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.proxies {
		for o := range nOutcomes {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(p.stats.out[o].Load()), p.name, outcomeNames[o])
		}
		u := p.up
		ch <- prometheus.MustNewConstMetric(c.dials, prometheus.CounterValue, float64(u.stats.dials.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(c.dialErrs, prometheus.CounterValue, float64(u.stats.dialErrs.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(c.reuses, prometheus.CounterValue, float64(u.stats.reuses.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(u.idleCount()), p.name)
	}
	health := c.health()
	for _, name := range Daemons() {
		v := 0.0
		if health[name].Status == "ok" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v, name)
	}
}

// health probes every daemon now, or returns the probes of a scrape less
// than healthReuse ago.
func (c *collector) health() map[string]DaemonHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Since(c.lastAt) < healthReuse {
		return c.last
	}
	ctx := shared.WithRequestID(context.Background(), shared.NewRequestID())
	c.last = c.g.probeAll(ctx).Daemons
	c.lastAt = time.Now()
	return c.last
}

// register adds the collector to reg (nil: no registry, nothing to do).
func (c *collector) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(c); err != nil {
		return errs.E("gateway", errs.Internal, err)
	}
	return nil
}
