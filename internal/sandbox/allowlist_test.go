package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/sandbox"
)

// branch is a default branch holding files by path.
type branch struct {
	files map[string]string
	err   error
}

func (b branch) ReadDir(_ context.Context, dir string) (map[string][]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	out := map[string][]byte{}
	for p, data := range b.files {
		if name, ok := strings.CutPrefix(p, dir+"/"); ok && !strings.Contains(name, "/") {
			out[name] = []byte(data)
		}
	}
	return out, nil
}

// The allowlist is read from the default branch; what `airut check` and a
// sandboxed run report depends on whether it is there and parses.
func TestAllowlist(t *testing.T) {
	const valid = "domains:\n  - api.example.com\n"
	tests := []struct {
		name     string
		branch   branch
		wantErr  error // nil: the allowlist is returned
		invalid  bool
		present  bool
		checkErr bool
	}{
		{"valid", branch{files: map[string]string{sandbox.AllowlistPath: valid}}, nil, false, true, false},
		{"missing", branch{files: map[string]string{".airut/other.yaml": valid}}, sandbox.ErrNoAllowlist, false, false, false},
		{"invalid", branch{files: map[string]string{sandbox.AllowlistPath: "domains: ["}}, nil, true, true, true},
		{"mirror unreadable", branch{err: errors.New("git: broken")}, nil, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			data, err := sandbox.Allowlist(ctx, tt.branch)
			var ae *sandbox.AllowlistError
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Allowlist error = %v, want %v", err, tt.wantErr)
				}
			case tt.invalid:
				if !errors.As(err, &ae) || !strings.HasPrefix(err.Error(), sandbox.AllowlistPath+": ") {
					t.Errorf("Allowlist error = %v, want an AllowlistError naming the file", err)
				}
			case tt.checkErr:
				if err == nil || errors.As(err, &ae) || errors.Is(err, sandbox.ErrNoAllowlist) {
					t.Errorf("Allowlist error = %v, want the mirror's error", err)
				}
			default:
				if err != nil || string(data) != valid {
					t.Errorf("Allowlist = %q, %v; want the file", data, err)
				}
			}
			present, err := sandbox.CheckAllowlist(ctx, tt.branch)
			if present != tt.present || (err != nil) != tt.checkErr {
				t.Errorf("CheckAllowlist = %v, %v; want present %v, error %v", present, err, tt.present, tt.checkErr)
			}
		})
	}
}
