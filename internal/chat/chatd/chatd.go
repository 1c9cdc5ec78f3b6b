// Package chatd builds chatd, the LLM dispatch daemon on :3220: it resolves
// [chatd] (provider URLs, default models, keys from keys_dir or env, the
// fallback chain, retries, timeouts) into adapters (chat/ollama for ollama
// and ollama_cloud, chat/openai for openrouter, opencode and kimi), and
// serves chat.Routes over a Dispatcher. cmd/chatd calls New; tests too.
package chatd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/ollama"
	"lakehouse-go/internal/chat/openai"
	"lakehouse-go/internal/shared"
)

// New is chatd's constructor for shared.Run. Keys come from the process
// environment and [chatd].keys_dir; a missing key unregisters its provider.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	set, err := Resolve(env.Config.Chatd, os.Getenv)
	if err != nil {
		return nil, shared.ConfigErr(err)
	}
	hc := NewHTTPClient(set.Timeout + time.Second) // a backstop: the dispatcher's first-token watchdog fires first
	d := NewDispatcher(set, Adapters(set, hc), env.Log, env.Metrics)
	for _, p := range set.Providers {
		if p.Registered {
			env.Log.Info("provider registered", "op", "start", "provider", p.Name, "url", p.URL, "default_model", p.Model)
		} else {
			env.Log.Info("provider not registered", "op", "start", "provider", p.Name, "reason", p.Reason)
		}
	}
	return &shared.Daemon{
		Routes: chat.Routes(env, d),
		// The harness's own errors in the routes' shapes (ADR-125).
		ErrorWriter: chat.ErrorWriter,
		Close: func(context.Context) error {
			hc.CloseIdleConnections()
			return nil
		},
	}, nil
}

// Adapters builds one adapter per registered provider.
func Adapters(set Settings, hc *http.Client) map[string]chat.Provider {
	m := map[string]chat.Provider{}
	for _, p := range set.Providers {
		if !p.Registered {
			continue
		}
		switch p.Proto {
		case ProtoOllama:
			m[p.Name] = ollama.New(p.URL, p.Key, hc)
		case ProtoOpenAI:
			op := openai.New(p.URL, p.Key, hc)
			if p.Name == chat.OpenRouter { // OpenRouter's app attribution headers and reasoning object
				op.Header = http.Header{"X-Title": {"Lakehouse-Go"}, "Http-Referer": {"https://github.com/lakehouse-go"}}
				op.ReasoningObject = true
			}
			m[p.Name] = op
		}
	}
	return m
}

// NewHTTPClient is the upstream client: connect, TLS and response-header
// timeouts; no overall timeout, because an answer streams for as long as
// the model writes (the request's ctx and the dispatcher's first-token and
// idle watchdogs bound it). HTTP(S)_PROXY is honoured for the internet
// providers (never for loopback).
func NewHTTPClient(headerTimeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}, CheckRedirect: keepMethod}
}

// keepMethod follows only redirects that keep the chat POST and its body
// (307, 308). A 301/302/303 would turn it into a GET without the messages
// (an http:// URL of an https:// service answers so): that 3xx stays the
// answer, and chat.PostStream reports it naming the Location.
func keepMethod(req *http.Request, via []*http.Request) error {
	if req.Method != via[0].Method {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
