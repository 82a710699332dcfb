package activities

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

// A host takes new conversations while it has free agent slots; a full
// host declines with a retryable HostBusy, so the task goes to another.
func TestClaimHost(t *testing.T) {
	cfg := &config.Config{Execution: config.Execution{MaxConcurrent: 1}}
	a := &Activities{Config: func() *config.Config { return cfg }, HostID: "h1"}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a.ClaimHost)
	steps := []struct {
		name string
		conv string
		busy bool
	}{
		{"first conversation gets the slot", "0000000a", false},
		{"same conversation again keeps it", "0000000a", false},
		{"another conversation finds the host full", "0000000b", true},
	}
	for _, st := range steps {
		val, err := env.ExecuteActivity(a.ClaimHost, workflows.ClaimInput{RepoID: "demo", ConversationID: st.conv})
		if st.busy {
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != workflows.ErrHostBusy || app.NonRetryable() {
				t.Fatalf("%s: error = %v, want a retryable %s", st.name, err, workflows.ErrHostBusy)
			}
			if app.Message() != "host h1 is at capacity" {
				t.Errorf("%s: message %q", st.name, app.Message())
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var res workflows.ClaimResult
		if err := val.Get(&res); err != nil || res.HostQueue != "airut-host-h1" {
			t.Errorf("%s: result %+v, %v; want host queue airut-host-h1", st.name, res, err)
		}
	}
}

// A slot is held from the claim until the agent runs, but not forever: a
// conversation that never got to run frees it after reservationTTL.
func TestLoadSlots(t *testing.T) {
	now := time.Now()
	var l load
	if !l.claim("a", 2, now) || !l.claim("b", 2, now) {
		t.Fatal("two claims on a host of two slots refused")
	}
	if l.claim("c", 2, now) {
		t.Error("third claim accepted on a full host")
	}
	l.start("a") // a's reservation becomes a running agent
	if l.claim("c", 2, now) {
		t.Error("claim accepted while one agent runs and one is reserved")
	}
	if !l.claim("c", 2, now.Add(reservationTTL+time.Second)) {
		t.Error("b's stale reservation still holds its slot")
	}
	l.done()
	if !l.claim("d", 2, now.Add(reservationTTL+2*time.Second)) {
		t.Error("a finished, but its slot was not freed")
	}
}
