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
	if network == "tcp" {
		network = "tcp4"
	}
	lc := net.ListenConfig{Control: transparent()}
	return lc.Listen(context.Background(), network, addr)
}

// listenTransparentUDP opens a UDP socket that receives datagrams for
// any address diverted to it and reports each one's original destination
// (IP_ORIGDSTADDR).
func listenTransparentUDP(ctx context.Context, addr string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: transparent(syscall.IP_RECVORIGDSTADDR)}
	pc, err := lc.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// transparent sets IP_TRANSPARENT (CAP_NET_ADMIN) and then each of the
// given boolean SOL_IP options on a socket before it binds.
func transparent(opts ...int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_TRANSPARENT, 1); serr != nil {
				serr = fmt.Errorf("IP_TRANSPARENT (needs CAP_NET_ADMIN): %w", serr)
				return
			}
			for _, o := range opts {
				if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, o, 1); serr != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
