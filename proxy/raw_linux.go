package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// The worker diverts (nftables TPROXY) every TCP connection and UDP
// datagram from the conversation network that is not for the proxy's
// HTTP, HTTPS or DNS ports to one port here. Nothing on that port relays
// anything: it exists so that such attempts (ssh to a host, a raw socket
// to a hard-coded address, a datagram carrying data out) are refused at
// once and written to the network log, instead of vanishing as timeouts
// nobody sees.

// rawRefusal is what a diverted TCP connection reads before it is closed,
// so a person or an agent trying `nc host 22` learns why.
const rawRefusal = "Network sandbox: raw TCP to %s is blocked. Only HTTP and HTTPS leave the sandbox, through its proxy; allowed hosts are listed in .airut/network-allowlist.yaml.\r\n"

// udpQuiet is how long repeated datagrams to one destination stay out of
// the log after the first, so a flood cannot fill the disk.
const udpQuiet = 10 * time.Second

// serveRaw accepts diverted TCP connections and UDP datagrams on addr
// (both transparent sockets, CAP_NET_ADMIN), logs each with the address
// it was meant for, and refuses it. It runs until ctx ends.
func serveRaw(ctx context.Context, addr string, log func(LogLine)) error {
	ln, err := listenTransparent("tcp", addr)
	if err != nil {
		return fmt.Errorf("raw TCP catch-all %s: %w", addr, err)
	}
	pc, err := listenTransparentUDP(ctx, addr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("raw UDP catch-all %s: %w", addr, err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
		pc.Close()
	}()
	go refuseTCP(ln, log)
	go refuseUDP(pc, log)
	return nil
}

func refuseTCP(ln net.Listener, log func(LogLine)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		dst := c.LocalAddr().String()
		log(LogLine{Kind: "tcp", Host: dst, Reason: "raw_tcp_blocked"})
		go func() {
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, rawRefusal, dst)
		}()
	}
}

func refuseUDP(pc *net.UDPConn, log func(LogLine)) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, 128)
	last := map[string]time.Time{}
	for {
		_, oobn, _, _, err := pc.ReadMsgUDP(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // never spin on a failing socket
			continue
		}
		dst := origDst(oob[:oobn])
		now := time.Now()
		if t, ok := last[dst]; ok && now.Sub(t) < udpQuiet {
			continue
		}
		if len(last) > 1024 {
			clear(last)
		}
		last[dst] = now
		log(LogLine{Kind: "udp", Host: dst, Reason: "raw_udp_blocked"})
	}
}

// origDst reads IP_ORIGDSTADDR (a sockaddr_in) from a datagram's control
// messages; "?" when the kernel sent none.
func origDst(oob []byte) string {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return "?"
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_IP && m.Header.Type == syscall.IP_ORIGDSTADDR && len(m.Data) >= 8 {
			port := binary.BigEndian.Uint16(m.Data[2:4])
			return net.JoinHostPort(net.IP(m.Data[4:8]).String(), fmt.Sprint(port))
		}
	}
	return "?"
}
