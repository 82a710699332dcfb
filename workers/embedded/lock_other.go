//go:build !unix

package embedded

// lockDatabase is a no-op where flock(2) is not available; keeping two
// servers off one database file is then up to the caller.
func lockDatabase(string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
