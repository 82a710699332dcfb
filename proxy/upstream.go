package proxy

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// upstreamTransport dials upstream servers, refusing addresses an
// allowlisted name must never lead to, whatever its DNS says: loopback,
// link-local (the cloud metadata service lives there), multicast,
// unspecified, and this proxy's own addresses (a request to itself would
// loop). Private ranges stay reachable: an internal server may be
// allowlisted on purpose.
func upstreamTransport() (*http.Transport, error) {
	own := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list own addresses: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			own[ipn.IP.String()] = true
		}
	}
	d := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil {
				return fmt.Errorf("upstream address %q is not an IP", host)
			}
			if why := forbidden(ip, own); why != "" {
				return fmt.Errorf("upstream address %s refused: %s", ip, why)
			}
			return nil
		},
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	return tr, nil
}

func forbidden(ip net.IP, own map[string]bool) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local (metadata service)"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	case own[ip.String()]:
		return "the proxy itself"
	}
	return ""
}
