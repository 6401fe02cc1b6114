package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.168.1.5 ,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, xff, realIP string
		want                string
	}{
		{"203.0.113.7:5555", "", "", "203.0.113.7"},
		{"203.0.113.7:5555", "198.51.100.1", "", "203.0.113.7"},                  // an untrusted peer's header is ignored
		{"203.0.113.7:5555", "", "198.51.100.1", "203.0.113.7"},                  // so is its X-Real-IP
		{"10.1.2.3:5555", "198.51.100.1", "", "198.51.100.1"},                    // the ingress saw the visitor
		{"10.1.2.3:5555", "198.51.100.1, 10.9.9.9", "", "198.51.100.1"},          // ingress, then storefront
		{"10.1.2.3:5555", "6.6.6.6, 198.51.100.1, 10.9.9.9", "", "198.51.100.1"}, // a forged entry is left of the real one
		{"10.1.2.3:5555", " 198.51.100.1 ,10.0.0.1", "", "198.51.100.1"},
		{"10.1.2.3:5555", "198.51.100.1:4711", "", "198.51.100.1"},
		{"10.1.2.3:5555", "garbage, 198.51.100.1", "", "198.51.100.1"},
		{"10.1.2.3:5555", "198.51.100.1, garbage", "", "10.1.2.3"},
		{"10.1.2.3:5555", "10.2.2.2, 10.3.3.3", "", "10.2.2.2"}, // every hop ours: the leftmost
		{"10.1.2.3:5555", "", "198.51.100.2", "198.51.100.2"},
		{"10.1.2.3:5555", "", "", "10.1.2.3"},
		{"192.168.1.5:80", "198.51.100.3", "", "198.51.100.3"},
		{"192.168.1.6:80", "198.51.100.3", "", "192.168.1.6"},
		{"[fd00::1]:80", "2001:db8:aa:bb::9", "", "2001:db8:aa:bb::/64"},
		{"[::ffff:10.0.0.1]:80", "198.51.100.4", "", "198.51.100.4"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", "", "2001:db8:1:2::/64"},
		{"[::ffff:203.0.113.7]:80", "", "", "203.0.113.7"},
		{"[fe80::1%eth0]:80", "", "", "fe80::/64"},
		{"@", "", "", "@"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.realIP != "" {
			r.Header.Set("X-Real-IP", tc.realIP)
		}
		if got := ClientAddr(r, proxies); got != tc.want {
			t.Errorf("ClientAddr(remote %s, xff %q, real ip %q) = %q, want %q", tc.remote, tc.xff, tc.realIP, got, tc.want)
		}
	}
	if _, err := ParseProxies("10.0.0.0/8,not-a-net"); err == nil {
		t.Error("ParseProxies accepted not-a-net")
	}
}

// FuzzClientAddr: whatever a peer writes into X-Forwarded-For and X-Real-IP, ClientAddr
// answers without panicking, and an untrusted peer is always counted as itself.
func FuzzClientAddr(f *testing.F) {
	proxies, _ := ParseProxies("10.0.0.0/8,fd00::/8")
	f.Add("10.0.0.1:1", "198.51.100.1, 10.0.0.2", "")
	f.Add("203.0.113.7:5555", "1.2.3.4", "5.6.7.8")
	f.Add("[fd00::1]:1", ",,, ,[::1]:80,%%", "x")
	f.Fuzz(func(t *testing.T, remote, xff, realIP string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Real-IP", realIP)
		_ = ClientAddr(r, proxies) // any peer: no panic
		r.RemoteAddr = "203.0.113.7:5555"
		if got := ClientAddr(r, proxies); got != "203.0.113.7" {
			t.Fatalf("untrusted peer counted as %q", got)
		}
	})
}
