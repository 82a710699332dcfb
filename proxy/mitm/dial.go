package mitm

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// allowedKey carries, in an outgoing request's context, the host the
// policy allowed. The dialler refuses any connection whose host differs:
// whatever a parser upstream of it got wrong, nothing but the allowed host
// is ever dialled.
type allowedKey struct{}

func withAllowed(ctx context.Context, h Host) context.Context {
	return context.WithValue(ctx, allowedKey{}, h)
}

// checkDial is the one invariant at the point where a connection is made:
// the address names exactly the host the policy allowed for this request.
// A dial without an allowed host (a connection nobody asked for) fails.
func checkDial(ctx context.Context, addr string) (Host, error) {
	h, ok := ctx.Value(allowedKey{}).(Host)
	if !ok {
		return Host{}, fmt.Errorf("mitm: refusing to dial %s: no allowed host for this connection", addr)
	}
	if !sameHost(addr, h) {
		return Host{}, fmt.Errorf("mitm: refusing to dial %s: the policy allowed %s", addr, h)
	}
	return h, nil
}

// guardTransport makes tr dial only through checkDial, and do TLS itself
// with the allowed host as the server name (asserted again after the
// handshake), speaking HTTP/1.1 only so that every request is one this
// proxy has seen and decided.
func guardTransport(tr *http.Transport) {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	base := tr.TLSClientConfig
	if base == nil {
		base = &tls.Config{}
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, err := checkDial(ctx, addr); err != nil {
			return nil, err
		}
		return dial(ctx, network, addr)
	}
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		h, err := checkDial(ctx, addr)
		if err != nil {
			return nil, err
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := base.Clone()
		conf.ServerName = h.String()
		conf.NextProtos = []string{"http/1.1"}
		tc := tls.Client(raw, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		if sni := tc.ConnectionState().ServerName; sni != h.String() {
			tc.Close()
			return nil, fmt.Errorf("mitm: TLS server name %q is not the allowed host %s", sni, h)
		}
		return tc, nil
	}
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
}
