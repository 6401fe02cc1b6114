package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is the address that the sign-in limiter counts a request against: the first
// X-Forwarded-For entry when trustProxy is set and it holds an IP address, else the peer
// of the connection. IPv6 addresses count by their /64 prefix, since one host commonly has a
// whole /64 to rotate through. trustProxy must only be set behind a proxy that overwrites
// the header, or a client can name any address it likes.
func ClientAddr(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if values := r.Header.Values("X-Forwarded-For"); len(values) > 0 {
			first, _, _ := strings.Cut(values[0], ",")
			if a, ok := parseAddr(strings.TrimSpace(first)); ok {
				return addrKey(a)
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, ok := parseAddr(host); ok {
		return addrKey(a)
	}
	return host
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
