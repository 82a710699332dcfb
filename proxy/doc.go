// Package proxy will hold the network sandbox: a DNS responder that
// answers every query with the proxy's address, the allowlist from
// .airut/network-allowlist.yaml, the TLS-intercepting HTTP proxy that
// swaps masked secrets for real ones on scoped hosts, and the network log.
// It is built as its own small static binary and runs in a container on
// each conversation's internal network.
//
// It must not import workflows, activities or any Temporal package: it is
// the security boundary and stays small enough to read in one sitting.
//
// Until it lands, agent runs with network.sandbox_enabled (the default)
// fail closed with a message saying how to run without the sandbox.
package proxy
