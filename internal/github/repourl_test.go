package github_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/github"
)

func TestRepoFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url         string
		owner, repo string
		wantErr     string
	}{
		{url: "https://github.com/acme/widgets", owner: "acme", repo: "widgets"},
		{url: "https://github.com/acme/widgets/", owner: "acme", repo: "widgets"},
		{url: "https://github.com/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "http://github.com/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "https://x-access-token:ghs_abc@github.com/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "  https://github.com/Acme-Corp/my_repo.v2  ", owner: "Acme-Corp", repo: "my_repo.v2"},
		{url: "git@github.com:acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "git@github.com:acme/widgets", owner: "acme", repo: "widgets"},
		{url: "github.com:acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "ssh://git@github.com/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "ssh://git@github.com:22/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "git+ssh://git@github.com/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "git://github.com/acme/widgets.git", owner: "acme", repo: "widgets"},
		{url: "https://ghe.example.com/platform/api.git", owner: "platform", repo: "api"},
		{url: "git@ghe.example.com:platform/api.git", owner: "platform", repo: "api"},
		{url: "ssh://git@ghe.example.com:7999/platform/api.git", owner: "platform", repo: "api"},

		{url: "", wantErr: "empty"},
		{url: "not a url", wantErr: "not a URL"},
		{url: "/srv/git/widgets.git", wantErr: "not a URL"},
		{url: "file:///srv/git/acme/widgets.git", wantErr: "unsupported scheme"},
		{url: "ftp://github.com/acme/widgets", wantErr: "unsupported scheme"},
		{url: "https://github.com/acme", wantErr: "not owner/repo"},
		{url: "https://github.com/acme/widgets/pull/12", wantErr: "not owner/repo"},
		{url: "https://github.com//widgets", wantErr: "not owner/repo"},
		{url: "https://github.com/-acme/widgets", wantErr: "invalid owner"},
		{url: "https://github.com/acme/..", wantErr: "invalid repository name"},
		{url: "https://github.com/acme/wid%20gets", wantErr: "invalid repository name"},
		{url: "git@github.com:", wantErr: "not owner/repo"},
		{url: "https:///acme/widgets", wantErr: "no host"},
		{url: "https://github.com/acme/widgets.git.git", owner: "acme", repo: "widgets.git"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			owner, repo, err := github.RepoFromURL(tt.url)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, owner)
				assert.Empty(t, repo)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.owner, owner)
			assert.Equal(t, tt.repo, repo)
		})
	}
}
