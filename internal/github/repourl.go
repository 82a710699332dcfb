package github

import (
	"fmt"
	"net/url"
	"strings"
)

// RepoFromURL parses owner and repository name from a clone or web URL of a
// repository on github.com or a GitHub Enterprise Server host:
//
//	https://github.com/owner/repo        (also http, a trailing / or .git)
//	git@github.com:owner/repo.git        (scp-like ssh)
//	ssh://git@github.com[:22]/owner/repo.git  (also git://, git+ssh://)
//	https://ghe.example.com/owner/repo.git
//
// The path must be exactly owner/repo; local paths, file:// URLs and URLs of
// pages inside a repository are refused.
func RepoFromURL(repoURL string) (owner, repo string, err error) {
	s := strings.TrimSpace(repoURL)
	if s == "" {
		return "", "", fmt.Errorf("parse repository url %q: empty", repoURL)
	}
	var host, path string
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("parse repository url %q: %w", repoURL, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "https", "http", "ssh", "git", "git+ssh", "ssh+git":
		default:
			return "", "", fmt.Errorf("parse repository url %q: unsupported scheme %q", repoURL, u.Scheme)
		}
		host, path = u.Hostname(), u.Path
	} else {
		// scp-like: [user@]host:owner/repo(.git)
		h, p, ok := strings.Cut(s, ":")
		if !ok || strings.Contains(h, "/") {
			return "", "", fmt.Errorf("parse repository url %q: not a URL or user@host:owner/repo", repoURL)
		}
		if i := strings.LastIndex(h, "@"); i >= 0 {
			h = h[i+1:]
		}
		host, path = h, p
	}
	if host == "" {
		return "", "", fmt.Errorf("parse repository url %q: no host", repoURL)
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	parts := strings.Split(path, "/")
	if len(parts) != 2 {
		return "", "", fmt.Errorf("parse repository url %q: path is not owner/repo", repoURL)
	}
	owner, repo = parts[0], parts[1]
	if !validOwner(owner) {
		return "", "", fmt.Errorf("parse repository url %q: invalid owner %q", repoURL, owner)
	}
	if !validRepo(repo) {
		return "", "", fmt.Errorf("parse repository url %q: invalid repository name %q", repoURL, repo)
	}
	return owner, repo, nil
}

// validOwner: letters, digits and hyphens (GitHub also allows underscores in
// some Enterprise user names), not starting with a hyphen.
func validOwner(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// validRepo: letters, digits, '-', '_' and '.', but not "." or "..".
func validRepo(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
