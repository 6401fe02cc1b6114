package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Storefront is the service behind every path that is not under /api/, as the ingress routes
// it.
const Storefront = "web"

// Routes are the public path prefixes and the service behind each, as the ingress routes them.
var Routes = []struct{ Prefix, Service string }{
	{"/api/users", "auth"},
	{"/api/tickets", "tickets"},
	{"/api/orders", "orders"},
	{"/api/payments", "payments"},
	{"/api/events", "tickets"},
	{"/api/queue", "queue"},
}

// maxBody is the ingress's body limit (ingress-nginx proxy-body-size 1m).
const maxBody = 1 << 20

// gateway routes /api/<prefix> to the replicas of a service, and everything else to the
// storefront, round robin, passing the path
// unchanged. A replica that refuses connections is skipped for a second, so killing one
// replica does not fail requests while another is up. Bodies are buffered, as ingress-nginx
// does, so a request can be sent again to the next replica when a connection is refused.
type gateway struct {
	mu    sync.RWMutex
	pools map[string]*pool
	proxy *httputil.ReverseProxy
}

type pool struct {
	backends []*backend
	next     atomic.Uint64
}

type backend struct {
	url       *url.URL
	downUntil atomic.Int64
}

type poolKey struct{}

func newGateway() *gateway {
	g := &gateway{pools: map[string]*pool{}}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.SetXForwarded()
		},
		Transport: retryTransport{base: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		}},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "Service unavailable")
		},
	}
	return g
}

// set replaces the replicas of service.
func (g *gateway) set(service string, addrs ...string) {
	p := &pool{}
	for _, a := range addrs {
		p.backends = append(p.backends, &backend{url: &url.URL{Scheme: "http", Host: a}})
	}
	g.mu.Lock()
	g.pools[service] = p
	g.mu.Unlock()
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	service := ""
	for _, rt := range Routes {
		if r.URL.Path == rt.Prefix || strings.HasPrefix(r.URL.Path, rt.Prefix+"/") {
			service = rt.Service
			break
		}
	}
	if service == "" && r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/") {
		service = Storefront
	}
	g.mu.RLock()
	p := g.pools[service]
	g.mu.RUnlock()
	if p == nil || len(p.backends) == 0 {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "Could not read the request body")
			return
		}
		if len(body) > maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, "Request body must not exceed 1048576 bytes")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	r = r.WithContext(contextWithPool(r, p))
	g.proxy.ServeHTTP(w, r)
}

// retryTransport sends a request to the pool's next live replica, moving on when a
// connection is refused (nothing was sent, so it is safe for any method).
type retryTransport struct{ base http.RoundTripper }

func (t retryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p, _ := r.Context().Value(poolKey{}).(*pool)
	if p == nil {
		return nil, errors.New("no pool")
	}
	n := len(p.backends)
	start := p.next.Add(1)
	var lastErr error
	for pass := 0; pass < 2; pass++ {
		for i := range n {
			b := p.backends[(start+uint64(i))%uint64(n)]
			if pass == 0 && b.downUntil.Load() > time.Now().UnixNano() {
				continue
			}
			out := r.Clone(r.Context())
			out.URL.Host = b.url.Host
			out.Host = r.Host
			if r.GetBody != nil {
				out.Body, _ = r.GetBody()
			}
			resp, err := t.base.RoundTrip(out)
			if err == nil {
				return resp, nil
			}
			lastErr = err
			if !refused(err) {
				return nil, err
			}
			b.downUntil.Store(time.Now().Add(time.Second).UnixNano())
		}
	}
	return nil, lastErr
}

func refused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": msg}}})
}

func contextWithPool(r *http.Request, p *pool) context.Context {
	return context.WithValue(r.Context(), poolKey{}, p)
}
