package sandbox

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// captureTable is the routing table, in the proxy's namespace, that makes
// every address local for packets arriving from the conversation network.
const captureTable = 199

// Direct addresses (a hard-coded IP, the cloud metadata address) would
// otherwise find no route in the agent's namespace: blocked, but never
// seen by the proxy. With a default route via the proxy and every address
// local to the proxy for traffic from the internal network, such a
// connection to port 80 or 443 lands on the proxy's own listeners, which
// refuse it with a 403 and log it; a DNS query to any resolver reaches the
// proxy's responder and is logged (its answer, from the wrong address, is
// dropped by the client); other ports are unreachable. Both need
// the worker to enter the containers' namespaces (rootful podman); without
// that, direct addresses stay unroutable.

// captureAll sets up the proxy's namespace: packets that arrive on the
// interface holding proxyIP are delivered locally whatever their
// destination, while the subnet itself stays reachable on that interface
// (for replies and the reverse-path check).
func captureAll(nsPath string, proxyIP net.IP) error {
	h, closeFn, err := handleAt(nsPath)
	if err != nil {
		return err
	}
	defer closeFn()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var link netlink.Link
	var subnet *net.IPNet
	for _, l := range links {
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.IP.Equal(proxyIP) {
				link = l
				subnet = &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask}
			}
		}
	}
	if link == nil {
		return fmt.Errorf("no interface holds %s", proxyIP)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	_, all, _ := net.ParseCIDR("0.0.0.0/0")
	routes := []*netlink.Route{
		{Type: unix.RTN_LOCAL, Dst: all, LinkIndex: lo.Attrs().Index, Table: captureTable, Scope: netlink.SCOPE_HOST},
		{Dst: subnet, LinkIndex: link.Attrs().Index, Table: captureTable, Scope: netlink.SCOPE_LINK, Src: proxyIP},
	}
	for _, r := range routes {
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("add route %s table %d: %w", r.Dst, captureTable, err)
		}
	}
	// Only the proxy's own ports are captured; anything else arriving
	// for a foreign address meets forwarding, which is off, and the
	// sender gets "host unreachable" at once.
	for _, p := range []struct {
		proto int
		port  uint16
	}{{unix.IPPROTO_TCP, 80}, {unix.IPPROTO_TCP, 443}, {unix.IPPROTO_UDP, 53}, {unix.IPPROTO_TCP, 53}} {
		rule := netlink.NewRule()
		rule.IifName = link.Attrs().Name
		rule.IPProto = p.proto
		rule.Dport = netlink.NewRulePortRange(p.port, p.port)
		rule.Table = captureTable
		rule.Priority = 100
		if err := h.RuleAdd(rule); err != nil {
			return fmt.Errorf("add rule iif %s port %d: %w", rule.IifName, p.port, err)
		}
	}
	return nil
}

// routeVia gives a namespace its default route through gw.
func routeVia(nsPath string, gw net.IP) error {
	h, closeFn, err := handleAt(nsPath)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := h.RouteAdd(&netlink.Route{Gw: gw}); err != nil {
		return fmt.Errorf("add default route via %s: %w", gw, err)
	}
	return nil
}

func handleAt(nsPath string) (*netlink.Handle, func(), error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	return h, func() { h.Close(); ns.Close() }, nil
}
