package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	nettypes "github.com/containers/common/libnetwork/types"
	"github.com/containers/podman/v5/pkg/bindings/network"
)

// ErrSubnetInUse is returned by CreateNetwork when another network already
// has the subnet; the caller picks another.
var ErrSubnetInUse = errors.New("subnet already used by another network")

// NetworkSpec describes a bridge network.
type NetworkSpec struct {
	Name string
	// Subnet in CIDR form; empty lets podman choose.
	Subnet string
	// Internal networks have no route out and no gateway address on the
	// host.
	Internal bool
	// DNS turns on podman's resolver for container names on the network.
	DNS    bool
	Labels map[string]string
}

// CreateNetwork creates a bridge network. A subnet taken by another
// network is reported as ErrSubnetInUse.
func (c *Client) CreateNetwork(ctx context.Context, ns NetworkSpec) error {
	n := nettypes.Network{Name: ns.Name, Driver: "bridge", Internal: ns.Internal, DNSEnabled: ns.DNS, Labels: ns.Labels}
	if ns.Subnet != "" {
		_, ipnet, err := net.ParseCIDR(ns.Subnet)
		if err != nil {
			return fmt.Errorf("podman network create %s: subnet: %w", ns.Name, err)
		}
		n.Subnets = []nettypes.Subnet{{Subnet: nettypes.IPNet{IPNet: *ipnet}}}
	}
	if _, err := network.Create(c.ctx(ctx), &n); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "subnet") && (strings.Contains(msg, "already") || strings.Contains(msg, "in use")) {
			return fmt.Errorf("podman network create %s: %w (%s)", ns.Name, ErrSubnetInUse, msg)
		}
		return fmt.Errorf("podman network create %s: %w", ns.Name, err)
	}
	return nil
}

// NetworkExists reports whether a network of that name exists.
func (c *Client) NetworkExists(ctx context.Context, name string) (bool, error) {
	ok, err := network.Exists(c.ctx(ctx), name, nil)
	if err != nil {
		return false, fmt.Errorf("podman network exists %s: %w", name, err)
	}
	return ok, nil
}

// RemoveNetwork removes a network and, first, any container still on it.
// A missing network is not an error.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	t := true
	_, err := network.Remove(c.ctx(ctx), name, &network.RemoveOptions{Force: &t})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("podman network rm %s: %w", name, err)
	}
	return nil
}

// RemoveNetworksByLabel removes every network with label key=value (and
// any container on it) and returns the names removed.
func (c *Client) RemoveNetworksByLabel(ctx context.Context, key, value string) ([]string, error) {
	if key == "" {
		return nil, errors.New("podman network remove by label: empty label key")
	}
	filter := map[string][]string{"label": {key + "=" + value}}
	list, err := network.List(c.ctx(ctx), new(network.ListOptions).WithFilters(filter))
	if err != nil {
		return nil, fmt.Errorf("podman network ls with label %s=%s: %w", key, value, err)
	}
	removed, err := removeLabelled(list, key, value,
		func(n nettypes.Network) (map[string]string, string) { return n.Labels, n.Name },
		func(n nettypes.Network) error { return c.RemoveNetwork(ctx, n.Name) })
	if err != nil {
		return removed, fmt.Errorf("podman network remove by label %s=%s: %w", key, value, err)
	}
	return removed, nil
}

// removeLabelled removes each item that has label key=value and returns
// the names removed, sorted. The service has filtered the list already;
// the labels are checked again, cheaply, before anything is removed.
func removeLabelled[T any](items []T, key, value string, describe func(T) (map[string]string, string), remove func(T) error) ([]string, error) {
	var removed []string
	var errs []error
	for _, it := range items {
		labels, name := describe(it)
		if v, ok := labels[key]; !ok || v != value {
			continue
		}
		if err := remove(it); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", name, err))
			continue
		}
		removed = append(removed, name)
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}
