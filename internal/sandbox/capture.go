package sandbox

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
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
// local to the proxy for TCP and UDP from the internal network, such a
// connection to port 80 or 443 lands on the proxy's own listeners, which
// refuse it with a 403 and log it; a DNS query to any resolver reaches the
// proxy's responder and is logged (its answer, from the wrong address, is
// dropped by the client). Every other TCP connection or UDP datagram, to
// any address and port, the proxy's own included, is diverted (nftables
// TPROXY) to the proxy's RawPort, where it is refused and logged. All of
// this needs the worker to enter the containers' namespaces (rootful
// podman); without that, direct addresses stay unroutable.

// captureAll sets up the proxy's namespace: TCP and UDP packets that
// arrive on the interface holding proxyIP (whose name it returns) are
// delivered locally whatever their destination, while the subnet itself
// stays reachable on that interface (for replies and the reverse-path
// check).
func captureAll(nsPath string, proxyIP net.IP) (iface string, err error) {
	h, closeFn, err := handleAt(nsPath)
	if err != nil {
		return "", err
	}
	defer closeFn()
	links, err := h.LinkList()
	if err != nil {
		return "", fmt.Errorf("list links: %w", err)
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
		return "", fmt.Errorf("no interface holds %s", proxyIP)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("loopback: %w", err)
	}
	_, all, _ := net.ParseCIDR("0.0.0.0/0")
	routes := []*netlink.Route{
		{Type: unix.RTN_LOCAL, Dst: all, LinkIndex: lo.Attrs().Index, Table: captureTable, Scope: netlink.SCOPE_HOST},
		{Dst: subnet, LinkIndex: link.Attrs().Index, Table: captureTable, Scope: netlink.SCOPE_LINK, Src: proxyIP},
	}
	for _, r := range routes {
		if err := h.RouteAdd(r); err != nil {
			return "", fmt.Errorf("add route %s table %d: %w", r.Dst, captureTable, err)
		}
	}
	// TCP and UDP only: a ping to a foreign address must not be
	// answered by the proxy as if the internet were there.
	for _, proto := range []int{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		rule := netlink.NewRule()
		rule.IifName = link.Attrs().Name
		rule.IPProto = proto
		rule.Table = captureTable
		rule.Priority = 100
		if err := h.RuleAdd(rule); err != nil {
			return "", fmt.Errorf("add rule iif %s proto %d: %w", rule.IifName, proto, err)
		}
	}
	return link.Attrs().Name, nil
}

// RawPort is where the proxy refuses and logs the TCP connections and UDP
// datagrams that are not for its HTTP, HTTPS or DNS ports.
const RawPort = 9

// divertRaw adds, in the proxy's namespace, the nftables rules that send
// every TCP connection and UDP datagram arriving on iface, except those
// for the proxy's service ports, to RawPort. Without it (a kernel without
// TPROXY) such traffic is still refused, by the kernel, but not logged.
func divertRaw(nsPath, iface string) error {
	ns, err := openNS(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "airut"})
	ch := c.AddChain(&nftables.Chain{Name: "divert", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, iface)
	for _, p := range []struct {
		proto byte
		keep  []uint16 // the proxy's own service ports
	}{{unix.IPPROTO_TCP, []uint16{80, 443, 53}}, {unix.IPPROTO_UDP, []uint16{53}}} {
		exprs := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p.proto}},
			// destination port: bytes 2-3 of the TCP and UDP headers
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		}
		for _, port := range p.keep {
			exprs = append(exprs, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})
		}
		exprs = append(exprs,
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(RawPort)},
			&expr.TProxy{Family: byte(nftables.TableFamilyIPv4), TableFamily: byte(nftables.TableFamilyIPv4), RegPort: 1},
		)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables divert rules (kernel TPROXY support): %w", err)
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
	ns, err := openNS(nsPath)
	if err != nil {
		return nil, nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	return h, func() { h.Close(); ns.Close() }, nil
}

func openNS(nsPath string) (netns.NsHandle, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return ns, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	return ns, nil
}
