package mitm

import (
	"net"
	"net/netip"
	"strings"
)

// A Host is a validated, canonical upstream host: a lower-case DNS name
// made only of letters, digits, '-' and '.', or an IP literal. It is the
// only form in which a host reaches the policy, the secret swap and the
// dialler, so a character that means something else to a URL parser ('?',
// '#', '@', '/', '%', ...) can never make the host that was checked
// differ from the host that is dialled.
type Host struct {
	name string     // DNS name, lower case, no trailing dot; "" for an IP
	ip   netip.Addr // valid when the host is an IP literal
}

// String is the host as the policy sees it: the DNS name, or the IP
// address without brackets.
func (h Host) String() string {
	if h.ip.IsValid() {
		return h.ip.String()
	}
	return h.name
}

// URLHost is the host as it goes into url.URL.Host and the Host header:
// IPv6 literals in brackets.
func (h Host) URLHost() string {
	if h.ip.Is6() {
		return "[" + h.ip.String() + "]"
	}
	return h.String()
}

// parseHostPort validates a Host header value, an absolute-form URI's
// authority or a TLS server name: a host as described on Host, optionally
// followed by ":port" (digits only). It is deliberately narrower than the
// URL grammar: no user info, no percent-encoding, no IPv6 zone, no
// internationalised labels (a client sends those as punycode).
func parseHostPort(s string) (h Host, port string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Host{}, "", false
	}
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Host{}, "", false
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return Host{}, "", false
			}
			port = rest[1:]
			if !validPort(port) {
				return Host{}, "", false
			}
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return Host{}, "", false
		}
		return Host{ip: ip}, port, true
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validPort(port) {
			return Host{}, "", false
		}
	}
	h, ok = parseHost(host)
	if h.ip.Is6() {
		return Host{}, "", false // an IPv6 literal must be in brackets
	}
	return h, port, ok
}

// parseHost validates a bare host (no port, IPv6 without brackets).
func parseHost(s string) (Host, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.Zone() != "" {
			return Host{}, false
		}
		return Host{ip: ip.Unmap()}, true
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if len(name) == 0 || len(name) > 253 {
		return Host{}, false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return Host{}, false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return Host{}, false
			}
		}
	}
	// Other spellings of an address ("2852039166", "0xa9.0xfe.1") stay
	// names: the proxy's resolver looks them up in DNS, it never reads
	// them as addresses, and whatever DNS answers passes the dialler's
	// address checks.
	return Host{name: name}, true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// sameHost reports whether a dial address ("host:port", as http.Transport
// passes it) names exactly h.
func sameHost(addr string, h Host) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	got, ok := parseHost(host)
	return ok && got == h
}
