// Package sandbox runs Claude Code, or any command, in a container that
// cannot reach what it should not: the same isolation that protects
// Airut's email and Slack agents, for CI pipelines, scripts and other
// programs.
//
// A Sandbox is one host's: its Podman connection, its state directory
// (the network sandbox's certificate authority, each task's proxy files)
// and the proxy image. A Task is one unit of work in it: an ID, an image,
// mounts, environment, masked secrets, an allowlist, resource limits and
// a timeout. Each Run or RunClaude of a task runs one container to its
// end and returns a typed Result; Close removes what the task started.
//
// With the network sandbox on (the default), the task's container sits on
// an internal Podman network with no route out. Its only resolver and
// gateway is a proxy container that answers every name with its own
// address, lets through only the HTTP(S) requests the allowlist permits,
// logs every request, allowed or refused, to the task's network log, and
// puts the real value of a masked secret into requests to that secret's
// hosts only: the container sees a surrogate of the same shape, never
// the secret. Fail closed: no proxy, no run.
//
// Cancelling the context of a run kills its container (SIGTERM, SIGKILL
// after two seconds) and removes it; the Result then says
// OutcomeCancelled. Errors are returned only when the sandbox itself
// failed: Podman, the proxy, the image build, bad input.
//
// The package needs root and Podman's API service (it starts one when
// asked, Options.StartPodmanService), the static airut-proxy binary
// (next to the executable, on PATH, or Options.ProxyBinary), and these
// build tags for the Podman bindings it uses:
//
//	remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp
//
// It knows nothing of Temporal, email or Slack; Airut's activities use it
// for every agent run, and the airut-sandbox command is a thin layer over
// it for CI.
package sandbox
