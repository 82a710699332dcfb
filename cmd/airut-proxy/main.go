// Command airut-proxy is the network sandbox of one conversation: a small
// static binary that runs in its own container on the conversation's
// internal network, answers every DNS query with its own address, and lets
// through only the HTTP(S) requests the repository's allowlist permits,
// swapping masked secrets for real ones on their scoped hosts.
//
// The worker starts it in a container (internal/sandbox); it takes its
// settings as flags and, with -ready, writes "ok" or the reason it could
// not start to a file the worker watches.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/airut-go/airut/proxy"
)

func main() {
	var cfg proxy.Config
	flag.StringVar(&cfg.ProxyIP, "ip", "", "this proxy's address on the internal network (every DNS answer)")
	flag.StringVar(&cfg.DNSAddr, "dns", ":53", "DNS listen address")
	flag.StringVar(&cfg.HTTPAddr, "http", ":80", "plain HTTP listen address")
	flag.StringVar(&cfg.HTTPSAddr, "https", ":443", "TLS listen address")
	flag.StringVar(&cfg.CADir, "ca-dir", "/ca", "directory of the per-installation CA")
	flag.StringVar(&cfg.AllowlistFile, "allowlist", "/network-allowlist.yaml", "the repository's network allowlist")
	flag.StringVar(&cfg.SecretsFile, "secrets", "", "JSON list of masked secrets (optional)")
	flag.StringVar(&cfg.LogFile, "log", "/network.log", "network log (JSON lines)")
	flag.BoolVar(&cfg.Transparent, "transparent", false, "accept connections for any address routed here (needs CAP_NET_ADMIN)")
	flag.StringVar(&cfg.RawAddr, "raw", "", "with -transparent: where other diverted TCP/UDP traffic is refused and logged")
	ready := flag.String("ready", "", "file to write \"ok\" (or the start-up error) to")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := proxy.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "airut-proxy:", err)
		report(*ready, err.Error())
		os.Exit(1)
	}
	report(*ready, "ok")
	fmt.Fprintf(os.Stderr, "airut-proxy: ready (dns %s, http %s, https %s)\n", p.DNS.UDPAddr, p.HTTP.HTTPAddr(), p.HTTP.HTTPSAddr())
	<-ctx.Done()
	<-p.HTTP.Done()
}

// report tells the worker how start-up went; the file is written whole
// (rename) so the worker never reads half of it.
func report(path, status string) {
	if path == "" {
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(status+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "airut-proxy: ready file:", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		fmt.Fprintln(os.Stderr, "airut-proxy: ready file:", err)
	}
}
