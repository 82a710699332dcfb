// Package netnstest gives tests a server address on a network the test
// created: a sleeping container joins a podman network (with DNS aliases),
// and the test opens listeners inside that container's network namespace,
// so servers run in the test process yet are reachable only from that
// network. It is for tests only and needs root (setns).
package netnstest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/airut-go/airut/internal/podman"
)

// Host is a test host on a podman network.
type Host struct {
	Name string
	IP   string
	ns   string
}

// StartHost runs a sleeping container from image on network (which must
// exist) under the given DNS aliases and returns it; it is removed when
// the test ends.
func StartHost(t testing.TB, c *podman.Client, network, image string, aliases ...string) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("airut-testhost-%d", time.Now().UnixNano())
	err := c.StartDetached(ctx, podman.RunSpec{
		Name: name, Image: image, Entrypoint: []string{"sleep"}, Command: []string{"3600"},
		Networks: []podman.Attach{{Network: network, Aliases: aliases}},
		Labels:   map[string]string{"airut.test": "host"},
	})
	if err != nil {
		t.Fatalf("netnstest: start host: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.Remove(ctx, name, 0)
	})
	nsPath, ips, err := c.NetNS(ctx, name)
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	ip := ips[network]
	if ip == "" {
		t.Fatalf("netnstest: host has no address on %s (%v)", network, ips)
	}
	return &Host{Name: name, IP: ip, ns: nsPath}
}

// Listen opens a TCP listener on addr (e.g. ":443") inside the host's
// network namespace; it is closed when the test ends.
func (h *Host) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := listenIn(h.ns, addr)
	if err != nil {
		t.Fatalf("netnstest: listen in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ServeHTTP serves handler on addr (e.g. ":443") inside the host's
// network namespace, over TLS with cert when cert is not nil (HTTP/2
// offered as net/http does); the server is closed when the test ends.
func (h *Host) ServeHTTP(t testing.TB, addr string, handler http.Handler, cert *tls.Certificate) {
	t.Helper()
	ln := h.Listen(t, addr)
	srv := &http.Server{Handler: handler}
	t.Cleanup(func() { srv.Close() })
	if cert == nil {
		go srv.Serve(ln)
		return
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	go srv.ServeTLS(ln, "", "")
}

// ListenPacket opens a UDP socket on addr inside the host's network
// namespace; it is closed when the test ends.
func (h *Host) ListenPacket(t testing.TB, addr string) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	err := inNS(h.ns, func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("netnstest: listen udp in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// listenIn opens a TCP listener inside the namespace.
func listenIn(nsPath, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNS(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// inNS runs fn on a thread switched into the namespace; sockets fn opens
// stay there after the thread switches back.
func inNS(nsPath string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is unusable; keep it locked so it dies with us.
		panic(fmt.Sprintf("netnstest: cannot return to the original namespace: %v", err))
	}
	return ferr
}
