package github

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gogithub "github.com/google/go-github/v62/github"
)

// secondaryLimitWait is how long to wait after a secondary rate limit that
// names no time: GitHub asks for at least a minute.
const secondaryLimitWait = time.Minute

// RateLimitError says GitHub refused a request because of a primary or
// secondary rate limit. The caller should not call again before Reset.
// Find it with errors.As; the client never retries or waits by itself.
type RateLimitError struct {
	Reset time.Time // when requests may be made again
	Err   error     // the underlying go-github or HTTP error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("github rate limit exceeded until %s: %v", e.Reset.UTC().Format(time.RFC3339), e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// asRateLimit turns the rate-limit errors go-github reports (and bare 403 or
// 429 answers carrying rate-limit headers) into a *RateLimitError; any other
// error is returned unchanged.
func asRateLimit(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	var ours *RateLimitError
	if errors.As(err, &ours) {
		return err
	}
	var primary *gogithub.RateLimitError
	if errors.As(err, &primary) {
		reset := primary.Rate.Reset.Time
		if reset.IsZero() {
			if r, ok := resetFromHeaders(primary.Response, now); ok {
				reset = r
			} else {
				reset = now.Add(secondaryLimitWait)
			}
		}
		return &RateLimitError{Reset: reset, Err: err}
	}
	var secondary *gogithub.AbuseRateLimitError
	if errors.As(err, &secondary) {
		reset := now.Add(secondaryLimitWait)
		if secondary.RetryAfter != nil {
			reset = now.Add(*secondary.RetryAfter)
		} else if r, ok := resetFromHeaders(secondary.Response, now); ok {
			reset = r
		}
		return &RateLimitError{Reset: reset, Err: err}
	}
	var resp *gogithub.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil {
		code := resp.Response.StatusCode
		if code != http.StatusForbidden && code != http.StatusTooManyRequests {
			return err
		}
		if reset, ok := resetFromHeaders(resp.Response, now); ok {
			return &RateLimitError{Reset: reset, Err: err}
		}
		if code == http.StatusTooManyRequests {
			return &RateLimitError{Reset: now.Add(secondaryLimitWait), Err: err}
		}
	}
	return err
}

// resetFromHeaders reads when a rate limit ends from Retry-After (seconds or
// an HTTP date) or from X-RateLimit-Reset when X-RateLimit-Remaining is 0.
func resetFromHeaders(resp *http.Response, now time.Time) (time.Time, bool) {
	if resp == nil {
		return time.Time{}, false
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			return now.Add(time.Duration(secs) * time.Second), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return t, true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if secs, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil && secs > 0 {
			return time.Unix(secs, 0), true
		}
	}
	return time.Time{}, false
}
