// Package ca is the sandbox's per-installation certificate authority. It
// creates an ECDSA P-256 CA once under a directory (key 0600, cert 0644),
// reuses it on later runs, and mints short-lived leaf certificates for the
// names the intercepting proxy sees in TLS SNI.
//
// Only the CA certificate (CertPEM) may leave this package for the sandboxed
// client; the private key must never be handed to, mounted in, or logged for
// the agent container. The CA is never rotated automatically. This package
// must not import Temporal or any airut package other than proxy/*.
package ca

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// File names inside the CA directory.
const (
	CertFile = "airut-ca-cert.pem"
	KeyFile  = "airut-ca-key.pem"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 7 * 24 * time.Hour
	// leafRenewBefore makes a cached leaf be re-minted when it is close to expiry.
	leafRenewBefore = 24 * time.Hour
	// DefaultCacheSize bounds the number of cached leaf certificates.
	DefaultCacheSize = 1024
)

// CA is a loaded certificate authority. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey

	mu    sync.Mutex
	max   int
	lru   *list.List // of *entry, front = most recent
	items map[string]*list.Element
	now   func() time.Time
}

type entry struct {
	name string
	cert *tls.Certificate
}

// LoadOrCreate loads the CA from dir, creating dir (0700) and a new CA if
// neither file exists. If exactly one of the two files exists it fails
// rather than overwrite anything. Concurrent callers, in this process or
// others, on a fresh dir end up with the same CA: creation happens under
// an exclusive lock on a file in dir (loading an existing CA needs no
// write access to dir).
func LoadOrCreate(dir string) (*CA, error) {
	certPath := filepath.Join(dir, CertFile)
	keyPath := filepath.Join(dir, KeyFile)
	// The common case, an existing CA, takes no lock (in the proxy's
	// container the dir is read-only). Anything else is decided under the
	// lock: a half-written CA may be another caller's creation in flight.
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if certErr == nil && keyErr == nil {
		return load(certPath, keyPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("ca: lock %s: %w", dir, err)
	}
	// Another caller may have created it while we waited.
	if ca, done, err := loadExisting(certPath, keyPath, dir); done {
		return ca, err
	}
	return create(certPath, keyPath)
}

// lockFile serialises CA creation in the CA directory.
const lockFile = ".airut-ca.lock"

// loadExisting loads the CA when both files exist; done is false when
// neither does (the caller creates it).
func loadExisting(certPath, keyPath, dir string) (ca *CA, done bool, err error) {
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		ca, err = load(certPath, keyPath)
		return ca, true, err
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		return nil, false, nil
	case certErr != nil && !errors.Is(certErr, os.ErrNotExist):
		return nil, true, fmt.Errorf("ca: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, os.ErrNotExist):
		return nil, true, fmt.Errorf("ca: %w", keyErr)
	default:
		return nil, true, fmt.Errorf("ca: %s holds only one of %s and %s; refusing to overwrite", dir, CertFile, KeyFile)
	}
}

func newCA(cert *x509.Certificate, certPEM []byte, key *ecdsa.PrivateKey) *CA {
	return &CA{cert: cert, certPEM: certPEM, key: key, max: DefaultCacheSize,
		lru: list.New(), items: map[string]*list.Element{}, now: time.Now}
}

func load(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: load key pair: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("ca: parse cert: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("ca: key is not ECDSA")
	}
	if !cert.IsCA {
		return nil, errors.New("ca: certificate is not a CA")
	}
	return newCA(cert, certPEM, key), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func create(certPath, keyPath string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "Airut sandbox CA " + hex.EncodeToString(suffix), Organization: []string{"Airut"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	// Key first, exclusively: even a creator that bypassed the lock fails
	// instead of silently mixing two CAs.
	if err := writeExcl(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeExcl(certPath, certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return nil, err
	}
	return newCA(cert, certPEM, key), nil
}

// writeExcl puts data at path whole or not at all, and never over an
// existing file: it is written to a temporary name and then hard-linked
// into place (which fails if path exists), so a reader that finds path
// never sees it half-written.
func writeExcl(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	return nil
}

// CertPEM returns the CA certificate in PEM form (never the key).
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.certPEM...) }

// Certificate returns the parsed CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// SetCacheSize changes the leaf cache bound (minimum 1).
func (c *CA) SetCacheSize(n int) {
	if n < 1 {
		n = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
	c.evict()
}

func (c *CA) evict() {
	for c.lru.Len() > c.max {
		e := c.lru.Back()
		c.lru.Remove(e)
		delete(c.items, e.Value.(*entry).name)
	}
}

// Leaf returns a certificate for serverName (a DNS name or an IP literal),
// signed by the CA, valid 7 days, from a bounded LRU cache when possible.
func (c *CA) Leaf(serverName string) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(serverName)), ".")
	if name == "" {
		return nil, errors.New("ca: empty server name")
	}
	if len(name) > 253 || strings.ContainsAny(name, " /\\\x00") {
		return nil, fmt.Errorf("ca: invalid server name %q", serverName)
	}
	c.mu.Lock()
	if el, ok := c.items[name]; ok {
		ent := el.Value.(*entry)
		if c.now().Add(leafRenewBefore).Before(ent.cert.Leaf.NotAfter) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return ent.cert, nil
		}
		c.lru.Remove(el)
		delete(c.items, name)
	}
	c.mu.Unlock()

	cert, err := c.mint(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[name]; ok { // another goroutine won the race
		c.lru.MoveToFront(el)
		return el.Value.(*entry).cert, nil
	}
	c.items[name] = c.lru.PushFront(&entry{name: name, cert: cert})
	c.evict()
	return cert, nil
}

// cacheLen is for tests.
func (c *CA) cacheLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *CA) mint(name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: mint leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, c.cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}
