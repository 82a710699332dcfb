package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

// harness is one command's outside world in a test: buffers for its
// streams, a config literal and a mock Temporal client that fails the
// test if a call it expects is not made (Close included, so a leaked
// connection shows).
type harness struct {
	cfg    *config.Config
	c      *mocks.Client
	stdin  string
	stdout bytes.Buffer
	stderr bytes.Buffer
	dialed bool
}

func newHarness(t *testing.T, repos ...string) *harness {
	t.Helper()
	cfg := &config.Config{
		Path:      "/etc/airut/airut.yaml",
		StateDir:  t.TempDir(),
		Execution: config.Execution{ConversationMaxAgeDays: 7},
		Repos:     map[string]*config.Repo{},
	}
	for _, id := range repos {
		cfg.Repos[id] = &config.Repo{ID: id}
	}
	return &harness{cfg: cfg, c: mocks.NewClient(t)}
}

func (h *harness) deps() deps {
	return deps{
		IO:     ioStreams{In: strings.NewReader(h.stdin), Out: &h.stdout, ErrOut: &h.stderr},
		Config: func() (*config.Config, error) { return h.cfg, nil },
		Client: func(context.Context) (client.Client, error) {
			if !h.dialed {
				h.c.On("Close").Return().Once()
			}
			h.dialed = true
			return h.c, nil
		},
	}
}

// exists makes the conversation known to Temporal in repo.
func (h *harness) exists(repo, conv string) {
	h.c.On("DescribeWorkflowExecution", mock.Anything, workflows.WorkflowID(repo, conv), "").
		Return(&workflowservice.DescribeWorkflowExecutionResponse{}, nil).Once()
}

// missing makes Temporal answer "not found" for the conversation in repo.
func (h *harness) missing(repo, conv string) {
	h.c.On("DescribeWorkflowExecution", mock.Anything, workflows.WorkflowID(repo, conv), "").
		Return(nil, serviceerror.NewNotFound("workflow not found for ID: "+workflows.WorkflowID(repo, conv))).Once()
}

// status answers the status query of the conversation with what st
// returns at the time of the call.
func (h *harness) status(repo, conv string, st func() workflows.Status) {
	h.c.On("QueryWorkflow", mock.Anything, workflows.WorkflowID(repo, conv), "", workflows.QueryStatus).
		Return(func(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
			return encoded(st())
		})
}

// updated answers the update name on the conversation: with result, or
// with the error the workflow returned (as the SDK hands it to a client).
func (h *harness) updated(t *testing.T, repo, conv, name string, result any, workflowErr error) {
	handle := mocks.NewWorkflowUpdateHandle(t)
	want := client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID(repo, conv), UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	// Who asked is signalled first, as the local user.
	h.c.On("SignalWorkflow", mock.Anything, workflows.WorkflowID(repo, conv), "", workflows.SignalAction,
		mock.MatchedBy(func(a workflows.Action) bool { return a.Kind == name && a.Actor == localUser() && !a.At.IsZero() })).Return(nil).Once()
	h.c.On("UpdateWorkflow", mock.Anything, want).Return(handle, nil).Once()
	handle.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, out any) error {
		if workflowErr != nil {
			// The error crosses the wire as a Failure, as in production.
			fc := temporal.GetDefaultFailureConverter()
			return fc.FailureToError(fc.ErrorToFailure(workflowErr))
		}
		v, err := encoded(result)
		if err != nil {
			return err
		}
		return v.Get(out)
	}).Once()
}

// encoded round-trips v through the default data converter, as a query or
// update result does.
func encoded(v any) (converter.EncodedValue, error) {
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	if err != nil {
		return nil, err
	}
	return client.NewValue(p), nil
}

// checkExit checks the exit code main would use for err, and the message
// it would print after "airut: ".
func checkExit(t *testing.T, err error, wantCode int, wantErr string) {
	t.Helper()
	if got := exitCode(err); got != wantCode {
		t.Errorf("exit code %d, want %d (error: %v)", got, wantCode, err)
	}
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("error %q, want none", err)
	case wantErr != "" && err == nil:
		t.Errorf("no error, want %q", wantErr)
	case wantErr != "" && err.Error() != wantErr:
		t.Errorf("error\n  %q\nwant\n  %q", err, wantErr)
	}
}

// errUnavailable is what the client returns when the server is down.
var errUnavailable = serviceerror.NewUnavailable("connection refused")

// runAirutErr runs a command line as main does and returns what it
// printed (error included) and its exit code.
func runAirutErr(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	a := &app{v: viper.New(), stdout: &out, stderr: &out, stdin: strings.NewReader("")}
	code := execute(context.Background(), a, args)
	return out.String(), code
}
