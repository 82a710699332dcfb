//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDatabase takes an exclusive advisory lock on file+".lock" so that two
// servers, in this process or another, never run on one database file: both
// would claim the single history shard and fight over it. The lock is held
// until the returned function is called or the process exits.
func lockDatabase(file string) (unlock func() error, err error) {
	name := file + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("database file %s is in use by another Temporal server (lock %s is held)", file, name)
		}
		return nil, fmt.Errorf("lock database file %s: %w", file, err)
	}
	return func() error {
		// Closing the descriptor releases the lock.
		return f.Close()
	}, nil
}
