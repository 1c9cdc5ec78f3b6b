package shared

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// startPprof serves net/http/pprof on addr (LH_PPROF_ADDR) for profiling a
// live daemon. Loopback addresses only: profiles reveal internals.
func startPprof(addr string, log *slog.Logger) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !IsLoopbackHost(host) {
		log.Warn("LH_PPROF_ADDR ignored: loopback host:port only", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Warn("pprof server stopped", "addr", addr, "err", err.Error())
		}
	}()
	log.Info("pprof listening", "addr", addr)
}
