package proxy

import (
	"net"
	"testing"
)

// forbidden is tested on addresses directly: a test that dialled them to
// see the refusal would, on a regression, send packets off this machine.
func TestForbiddenUpstreamAddresses(t *testing.T) {
	own := map[string]bool{"10.199.1.100": true}
	tests := []struct {
		ip   string
		want string // "" = allowed
	}{
		{"127.0.0.1", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"169.254.169.254", "link-local (metadata service)"},
		{"fe80::1", "link-local (metadata service)"},
		{"100.100.100.200", "cloud metadata service"},
		{"192.0.0.192", "cloud metadata service"},
		{"168.63.129.16", "cloud metadata service"},
		{"fd00:ec2::254", "cloud metadata service"},
		{"64:ff9b::a9fe:a9fe", "link-local (metadata service) (through NAT64)"},
		{"64:ff9b::7f00:1", "loopback (through NAT64)"},
		{"239.1.2.3", "multicast"},
		{"0.0.0.0", "unspecified"},
		{"10.199.1.100", "the proxy itself"},
		{"10.0.0.5", ""},
		{"192.168.1.10", ""},
		{"100.100.100.201", ""},
		{"64:ff9b::a00:5", ""},
	}
	for _, tt := range tests {
		if got := forbidden(net.ParseIP(tt.ip), own); got != tt.want {
			t.Errorf("forbidden(%s) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}
