// Package deploy holds deployment recipes, not code: systemd units
// (systemd/), a compose file for a Temporal cluster on PostgreSQL
// (compose/) and Kubernetes manifests with values for Temporal's Helm
// chart (kubernetes/). It is a Go package only for deploy_test.go, which
// checks those recipes without running them: the compose service graph,
// the manifests' security settings, and the Airut configs they carry,
// parsed by Airut's own config loader. (The systemd units are checked in
// cmd/airut, the GitHub Action in github-action/.)
package deploy
