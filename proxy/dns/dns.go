// Package dns is the sandbox's DNS responder. It answers every A query with
// the proxy's own IP (TTL 60) so that all names the agent resolves lead to
// the intercepting proxy, and answers every other query type with NOTIMP.
//
// It must never resolve or forward a query: a forwarding resolver would be an
// exfiltration channel (data encoded in query names reaching an outside
// nameserver). It serves both UDP and TCP. It must not import Temporal or any
// airut package other than proxy/*.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// TTL is the lifetime of every A answer, in seconds.
const TTL = 60

// Handler answers queries with proxyIP. It never contacts any other server.
type Handler struct {
	IP  net.IP
	Log func(qtype, name, answer string)
}

// ServeDNS implements mdns.Handler.
func (h *Handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	m := new(mdns.Msg)
	if len(req.Question) != 1 || req.Opcode != mdns.OpcodeQuery {
		m.SetRcode(req, mdns.RcodeNotImplemented)
		m.Authoritative = false
		_ = w.WriteMsg(m)
		if h.Log != nil {
			h.Log("?", "", "NOTIMP")
		}
		return
	}
	q := req.Question[0]
	qtype := mdns.TypeToString[q.Qtype]
	if qtype == "" {
		qtype = fmt.Sprintf("TYPE%d", q.Qtype)
	}
	if q.Qtype == mdns.TypeA && q.Qclass == mdns.ClassINET {
		m.SetReply(req)
		m.RecursionAvailable = true
		m.Answer = []mdns.RR{&mdns.A{
			Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: TTL},
			A:   h.IP,
		}}
		_ = w.WriteMsg(m)
		if h.Log != nil {
			h.Log(qtype, q.Name, h.IP.String())
		}
		return
	}
	m.SetRcode(req, mdns.RcodeNotImplemented)
	m.RecursionAvailable = true
	_ = w.WriteMsg(m)
	if h.Log != nil {
		h.Log(qtype, q.Name, "NOTIMP")
	}
}

// Serve starts UDP and TCP responders on addr (e.g. "0.0.0.0:53"). It
// returns once both are listening (or with an error if either failed); they
// stop when ctx is cancelled. log may be nil.
func Serve(ctx context.Context, addr string, proxyIP net.IP, log func(qtype, name, answer string)) error {
	_, err := Start(ctx, addr, proxyIP, log)
	return err
}

// Server is a running responder; UDPAddr/TCPAddr report the bound addresses
// (useful when addr had port 0).
type Server struct {
	UDPAddr net.Addr
	TCPAddr net.Addr
	done    chan struct{}
}

// Done is closed when both listeners have stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Start is Serve returning the bound addresses.
func Start(ctx context.Context, addr string, proxyIP net.IP, log func(qtype, name, answer string)) (*Server, error) {
	ip4 := proxyIP.To4()
	if ip4 == nil {
		return nil, errors.New("dns: proxy IP must be IPv4")
	}
	h := &Handler{IP: ip4, Log: log}
	pc, ln, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	udp := &mdns.Server{PacketConn: pc, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	tcp := &mdns.Server{Listener: ln, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	srv := &Server{UDPAddr: pc.LocalAddr(), TCPAddr: ln.Addr(), done: make(chan struct{})}
	ready := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { ready <- struct{}{} }
	tcp.NotifyStartedFunc = func() { ready <- struct{}{} }
	errs := make(chan error, 2)
	go func() { errs <- udp.ActivateAndServe() }()
	go func() { errs <- tcp.ActivateAndServe() }()
	for i := 0; i < 2; i++ {
		select {
		case <-ready:
		case err := <-errs:
			_ = udp.Shutdown()
			_ = tcp.Shutdown()
			return nil, fmt.Errorf("dns: serve: %w", err)
		}
	}
	go func() {
		<-ctx.Done()
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		<-errs
		<-errs
		close(srv.done)
	}()
	return srv, nil
}

// listenBoth opens UDP and TCP on the same address. With port 0 the TCP
// side takes the port the kernel gave UDP, which a TCP socket may already
// hold; a few fresh tries find one free for both.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp: %w", err)
		}
		tcpAddr := addr
		if port == "0" {
			_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
			tcpAddr = net.JoinHostPort(host, p)
		}
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || try == 9 {
			return nil, nil, fmt.Errorf("dns: listen tcp: %w", err)
		}
	}
}
