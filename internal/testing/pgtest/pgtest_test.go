package pgtest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airut-go/airut/internal/testing/pgtest"
)

// The server takes the password over TCP, with and without TLS, refuses a
// wrong one, trusts its Unix socket, and has only the maintenance
// database.
func TestStart(t *testing.T) {
	s := pgtest.Start(t)
	if got := s.Databases(t); !slices.Equal(got, []string{"postgres"}) {
		t.Errorf("Databases() = %v, want [postgres]", got)
	}
	tests := []struct {
		name    string
		conn    string
		wantErr string // "" for a login
		wantSSL bool
	}{
		{"password", s.ConnString("postgres"), "", false},
		{"TLS verified by name", fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres sslmode=verify-full sslrootcert=%s",
			s.Host, s.Port, s.User, s.Password, s.CAFile), "", true},
		{"wrong password", fmt.Sprintf("host=%s port=%d user=%s password=wrong dbname=postgres sslmode=disable", s.Host, s.Port, s.User),
			"password authentication failed", false},
		{"no password on the socket", fmt.Sprintf("host=%s port=%d user=%s dbname=postgres", s.SocketDir, s.Port, s.User), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, tc.conn)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Connect: err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer c.Close(ctx)
			var ssl bool
			if err := c.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
				t.Fatal(err)
			}
			if ssl != tc.wantSSL {
				t.Errorf("ssl = %v, want %v", ssl, tc.wantSSL)
			}
		})
	}
}
