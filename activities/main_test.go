package activities

import (
	"fmt"
	"os"
	"testing"

	"github.com/airut-go/airut/internal/testing/podmantest"
)

func TestMain(m *testing.M) {
	stop, err := podmantest.Private()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}
