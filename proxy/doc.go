// Package proxy is the network sandbox of one conversation: a DNS
// responder that answers every A query with the proxy's address (and
// nothing else), the allowlist from .airut/network-allowlist.yaml, the
// TLS-intercepting HTTP proxy that swaps masked secrets for real ones on
// scoped hosts, and the network log. Start assembles the parts;
// cmd/airut-proxy is the small static binary that runs it in a container
// on the conversation's internal network (see internal/sandbox).
//
// It must not import workflows, activities or any Temporal package: it is
// the security boundary and stays small enough to read in one sitting.
package proxy
