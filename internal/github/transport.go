package github

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// maxCachedBody is the largest response body the ETag cache keeps.
const maxCachedBody = 8 << 20

// etagTransport makes every GET conditional: it remembers the ETag, headers
// and body of each 200 answer per URL (and Accept header) and sends
// If-None-Match on the next GET of that URL. A 304 answer is turned into the
// remembered 200, with the 304's headers (rate-limit counters, ETag) laid
// over the remembered ones, so go-github never sees a 304.
type etagTransport struct {
	next  http.RoundTripper
	cache *etagCache
	log   *slog.Logger
}

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr, _ := req.Context().Value(trackerKey{}).(*tracker)
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" || req.Header.Get("Range") != "" {
		resp, err := t.next.RoundTrip(req)
		if err == nil {
			tr.fresh()
		}
		return resp, err
	}

	key := req.Header.Get("Accept") + " " + req.URL.String()
	cached, ok := t.cache.get(key)
	if ok {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", cached.etag)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}

	switch {
	case resp.StatusCode == http.StatusNotModified && ok:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		h := cached.header.Clone()
		for k, v := range resp.Header {
			switch k {
			case "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding":
				continue
			}
			h[k] = v
		}
		t.log.DebugContext(req.Context(), "github request not modified", "url", req.URL.String())
		tr.notModified()
		return &http.Response{
			Status:        "200 OK",
			StatusCode:    http.StatusOK,
			Proto:         resp.Proto,
			ProtoMajor:    resp.ProtoMajor,
			ProtoMinor:    resp.ProtoMinor,
			Header:        h,
			Body:          io.NopCloser(bytes.NewReader(cached.body)),
			ContentLength: int64(len(cached.body)),
			Request:       resp.Request,
			TLS:           resp.TLS,
		}, nil

	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		tr.fresh()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("read github response body: %w", err)
		}
		if len(body) > maxCachedBody {
			t.cache.remove(key)
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			return resp, nil
		}
		resp.Body.Close()
		t.cache.put(key, cacheEntry{etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		t.log.DebugContext(req.Context(), "github request fresh", "url", req.URL.String(), "status", resp.StatusCode)
		return resp, nil

	default:
		tr.fresh()
		if resp.StatusCode == http.StatusOK {
			t.cache.remove(key)
		}
		t.log.DebugContext(req.Context(), "github request", "url", req.URL.String(), "status", resp.StatusCode)
		return resp, nil
	}
}

// cacheEntry is one remembered 200 answer.
type cacheEntry struct {
	etag   string
	header http.Header
	body   []byte
}

// etagCache is a mutex-guarded LRU map from request key to cacheEntry.
type etagCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *cacheItem
	items map[string]*list.Element
}

type cacheItem struct {
	key   string
	entry cacheEntry
}

func newETagCache(max int) *etagCache {
	return &etagCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *etagCache) get(key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return cacheEntry{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheItem).entry, true
}

func (c *etagCache) put(key string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*cacheItem).entry = e
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&cacheItem{key: key, entry: e})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheItem).key)
	}
}

func (c *etagCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

func (c *etagCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// tracker counts, for one Snapshot or FindPR call, how many answers were
// fresh and how many were 304s. A nil *tracker counts nothing.
type tracker struct {
	freshN, notModifiedN atomic.Int64
}

type trackerKey struct{}

func withTracker(ctx context.Context) (context.Context, *tracker) {
	tr := &tracker{}
	return context.WithValue(ctx, trackerKey{}, tr), tr
}

func (t *tracker) fresh() {
	if t != nil {
		t.freshN.Add(1)
	}
}

func (t *tracker) notModified() {
	if t != nil {
		t.notModifiedN.Add(1)
	}
}

// tokenSource gives the token to send with each request.
type tokenSource interface {
	token(ctx context.Context) (string, error)
	// invalidate forgets tok after GitHub refused it (401).
	invalidate(tok string)
}

// staticToken is a PAT or an installation token given in Options.Token.
type staticToken string

func (s staticToken) token(context.Context) (string, error) { return string(s), nil }
func (staticToken) invalidate(string)                       {}

// authTransport adds "Authorization: Bearer <token>" to requests for the API
// host only, so that a redirect elsewhere never carries the token.
type authTransport struct {
	next   http.RoundTripper
	host   string
	tokens tokenSource
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.tokens == nil || req.URL.Host != t.host {
		return t.next.RoundTrip(req)
	}
	tok, err := t.tokens.token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		t.tokens.invalidate(tok)
	}
	return resp, err
}
