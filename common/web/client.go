package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the networks of the hops trusted to report a client's address: the ingress,
// the storefront, the gateway. Only they may speak through X-Forwarded-For or X-Real-IP.
type Proxies []netip.Prefix

// ParseProxies reads TRUSTED_PROXIES: comma-separated CIDRs or bare IP addresses.
func ParseProxies(list string) (Proxies, error) {
	var out Proxies
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address that the rate limits count a request against. It is the peer of
// the connection, unless the peer is a trusted proxy: then X-Forwarded-For is read from the
// right, each trusted hop appending the address it saw, and the first hop that is not a
// trusted proxy is the client (X-Real-IP stands in when there is no X-Forwarded-For). What
// an untrusted client writes into those headers is left of the hops its proxies appended,
// so it is never read. IPv6 addresses count by their /64 prefix, since one host commonly has
// a whole /64 to rotate through.
func ClientAddr(r *http.Request, proxies Proxies) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, ok := parseAddr(host)
	if !ok {
		return host
	}
	if !proxies.trusted(peer) {
		return addrKey(peer)
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	if len(hops) == 0 {
		if a, ok := parseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); ok {
			return addrKey(a)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseAddr(hops[i])
		if !ok {
			break // not written by a proxy of ours: the nearest address is the client's
		}
		client = a
		if !proxies.trusted(a) {
			break
		}
	}
	return addrKey(client)
}

// parseAddr reads an IP address, with or without a port.
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

func addrKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
