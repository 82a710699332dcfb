// Command probe tries one network escape after another from inside an
// agent container and prints what happened to each as a JSON line. The
// sandbox tests mount it into the container; the cases come as a JSON
// list on stdin. Every attempt is bounded by a short timeout.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

type probeCase struct {
	Name    string            `json:"name"`
	Kind    string            `json:"kind"` // http, raw, dns, tcp, udp, connect
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url,omitempty"`
	Host    string            `json:"host,omitempty"` // Host header override
	Header  map[string]string `json:"header,omitempty"`
	QType   string            `json:"qtype,omitempty"`
	QName   string            `json:"qname,omitempty"`
	Server  string            `json:"server,omitempty"`  // DNS server or TCP address
	Payload string            `json:"payload,omitempty"` // tcp payload or HTTP body
	// SNI overrides the TLS server name (http over https, raw with TLS).
	SNI string `json:"sni,omitempty"`
	// TLS makes a raw case speak TLS to Server.
	TLS bool `json:"tls,omitempty"`
	// Raw is the request a raw case writes as is (after expanding the
	// environment, so ${SECRET_TOKEN} is the surrogate): a request target
	// or Host header no HTTP client would send.
	Raw string `json:"raw,omitempty"`
}

type result struct {
	Name    string   `json:"name"`
	Status  int      `json:"status,omitempty"`
	Body    string   `json:"body,omitempty"`
	Err     string   `json:"err,omitempty"`
	Rcode   string   `json:"rcode,omitempty"`
	Answers []string `json:"answers,omitempty"`
}

const timeout = 3 * time.Second

func main() {
	var cases []probeCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "probe: read cases:", err)
		os.Exit(2)
	}
	// Results go to a file in a mounted directory when PROBE_OUT names
	// one: podman 4.3's attach can lose the tail of a short-lived
	// container's stdout under load.
	out := os.Stdout
	if p := os.Getenv("PROBE_OUT"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(2)
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	for _, c := range cases {
		r := result{Name: c.Name}
		switch c.Kind {
		case "http":
			doHTTP(c, &r)
		case "raw":
			doRaw(c, &r)
		case "dns":
			doDNS(c, &r)
		case "tcp":
			doTCP(c, &r)
		case "udp":
			doUDP(c, &r)
		case "connect":
			doConnect(c, &r)
		default:
			r.Err = "unknown kind " + c.Kind
		}
		enc.Encode(r)
	}
}

func doHTTP(c probeCase, r *result) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var reqBody io.Reader
	if c.Payload != "" {
		reqBody = strings.NewReader(c.Payload)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, reqBody)
	if err != nil {
		r.Err = err.Error()
		return
	}
	for k, v := range c.Header {
		req.Header.Set(k, os.ExpandEnv(v))
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	// The client trusts what SSL_CERT_FILE names (the sandbox CA), like
	// any Go program in the container.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: dialAton}
	if c.SNI != "" {
		tr.TLSClientConfig = &tls.Config{ServerName: c.SNI}
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	r.Status = resp.StatusCode
	r.Body = string(body)
}

// doRaw writes c.Raw on a connection to c.Server, inside TLS with server
// name c.SNI when c.TLS is set (verified against the trust store the
// container has, the sandbox CA), and reads one response. A handshake the
// other side refuses is reported in Err with no status.
func doRaw(c probeCase, r *result) {
	d := &net.Dialer{Timeout: timeout}
	tcp, err := d.Dial("tcp", c.Server)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer tcp.Close()
	tcp.SetDeadline(time.Now().Add(timeout))
	var conn net.Conn = tcp
	if c.TLS {
		tc := tls.Client(tcp, &tls.Config{ServerName: c.SNI})
		if err := tc.Handshake(); err != nil {
			r.Err = "tls handshake: " + err.Error()
			return
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, os.ExpandEnv(c.Raw)); err != nil {
		r.Err = err.Error()
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		r.Body = string(body)
	}
}

func doDNS(c probeCase, r *result) {
	server := c.Server
	if server == "" {
		server = resolver()
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(c.QName), dns.StringToType[c.QType])
	cl := &dns.Client{Timeout: timeout}
	in, _, err := cl.Exchange(m, server)
	if err != nil {
		r.Err = err.Error()
		return
	}
	r.Rcode = dns.RcodeToString[in.Rcode]
	for _, a := range in.Answer {
		r.Answers = append(r.Answers, strings.ReplaceAll(a.String(), "\t", " "))
	}
}

// resolver is the first nameserver of resolv.conf, as host:53.
func resolver() string {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return "127.0.0.1:53"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "nameserver" {
			return net.JoinHostPort(fs[1], "53")
		}
	}
	return "127.0.0.1:53"
}

func doTCP(c probeCase, r *result) {
	conn, err := net.DialTimeout("tcp", c.Server, timeout)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if c.Payload != "" {
		conn.Write([]byte(c.Payload))
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	r.Body = string(buf[:n])
	if err != nil {
		r.Err = "connected; " + err.Error()
	}
}

// doUDP sends one datagram; nothing comes back either way, so what
// matters is whether it arrived (the test's listener counts).
func doUDP(c probeCase, r *result) {
	conn, err := net.DialTimeout("udp", c.Server, timeout)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(c.Payload)); err != nil {
		r.Err = err.Error()
	}
}

// doConnect asks for a CONNECT tunnel, over TLS when the URL is https
// (to the proxy's TLS port) and plain otherwise.
func doConnect(c probeCase, r *result) {
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: timeout}
	if strings.HasPrefix(c.URL, "https://") {
		host := strings.TrimPrefix(c.URL, "https://")
		conn, err = tls.DialWithDialer(d, "tcp", host+":443", &tls.Config{ServerName: host})
	} else {
		conn, err = d.Dial("tcp", strings.TrimPrefix(c.URL, "http://")+":80")
	}
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", c.Server, c.Server)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		r.Err = err.Error()
		return
	}
	r.Status = resp.StatusCode
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	r.Body = string(body)
}

// dialAton dials like curl and the C library: a host that inet_aton reads
// as an IPv4 address (2852039166, 0xA9FEA9FE, 0251.0376.0251.0376) is
// dialled as that address, never looked up.
func dialAton(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := inetAton(host); ip != nil {
			addr = net.JoinHostPort(ip.String(), port)
		}
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func inetAton(s string) net.IP {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return nil
	}
	var vals []uint64
	for _, p := range parts {
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			return nil
		}
		vals = append(vals, v)
	}
	var n uint64
	switch len(vals) {
	case 1:
		n = vals[0]
	case 2:
		n = vals[0]<<24 | vals[1]
	case 3:
		n = vals[0]<<24 | vals[1]<<16 | vals[2]
	case 4:
		n = vals[0]<<24 | vals[1]<<16 | vals[2]<<8 | vals[3]
	}
	if n > 0xFFFFFFFF {
		return nil
	}
	return net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
