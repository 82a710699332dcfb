package proxy

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// listenTransparent listens on IPv4 with IP_TRANSPARENT set, so the
// kernel accepts connections to addresses that are not this host's (the
// worker routes them here) and lets the replies carry that address.
func listenTransparent(network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_TRANSPARENT, 1)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("IP_TRANSPARENT (needs CAP_NET_ADMIN): %w", serr)
		}
		return nil
	}}
	if network == "tcp" {
		network = "tcp4"
	}
	return lc.Listen(context.Background(), network, addr)
}
