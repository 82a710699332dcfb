// Command check reports, one line per program, whether each program of
// internal/hostdeps (test set, so runtime too) is present, and exits 1 if
// one is missing. The fresh-root test builds it statically and runs it
// inside the root, so the root is checked by hostdeps.Check itself.
package main

import (
	"fmt"
	"os"

	"github.com/airut-go/airut/internal/hostdeps"
)

func main() {
	code := 0
	for _, r := range hostdeps.Check(hostdeps.Test) {
		if r.OK() {
			fmt.Printf("ok       %-13s %s\n", r.Program.Name, r.Path)
			continue
		}
		code = 1
		fmt.Printf("MISSING  %-13s %s (%s)\n", r.Program.Name, r.Program.Install(), r.Program.Why)
	}
	os.Exit(code)
}
