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

// metadataAddrs are cloud metadata and platform endpoints outside the
// link-local range: Alibaba's, Oracle's, Azure's wire server and AWS's
// IPv6 instance metadata.
var metadataAddrs = map[string]bool{
	"100.100.100.200": true,
	"192.0.0.192":     true,
	"168.63.129.16":   true,
	"fd00:ec2::254":   true,
}

// nat64 is the well-known NAT64 prefix: 64:ff9b::a9fe:a9fe reaches
// 169.254.169.254 through a NAT64 gateway.
var nat64 = &net.IPNet{IP: net.ParseIP("64:ff9b::"), Mask: net.CIDRMask(96, 128)}

func forbidden(ip net.IP, own map[string]bool) string {
	if nat64.Contains(ip) {
		if why := forbidden(ip[12:16], own); why != "" {
			return why + " (through NAT64)"
		}
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local (metadata service)"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	case metadataAddrs[ip.String()]:
		return "cloud metadata service"
	case own[ip.String()]:
		return "the proxy itself"
	}
	return ""
}

// mintClient is how the proxy itself talks to a credential's issuer (a
// GitHub App's token endpoint): through the same guarded egress as the
// agent's requests, never through an environment proxy, with its own
// timeout. The issuer's URL comes from the operator's config, never from
// the agent.
func mintClient(upstream *http.Transport) *http.Client {
	tr := upstream.Clone()
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
