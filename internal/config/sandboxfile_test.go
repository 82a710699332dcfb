package config

import (
	"strings"
	"testing"
)

func TestParseSandboxFile(t *testing.T) {
	env := map[string]string{"TOKEN": "tok-123", "PLAIN": "p", "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "PROD_TOKEN": "FwoGZXIvYXdzEJr"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f, err := ParseSandboxFile(".airut/sandbox.yaml", []byte(`env:
  A: b
  C: !env PLAIN
pass_env: [HOME]
masked_secrets:
  API_TOKEN:
    value: !env TOKEN
    scopes: [api.example.com]
    headers: [Authorization]
    allow_foreign_credentials: true
signing_credentials:
  AWS:
    type: aws-sigv4
    access_key_id: !env AWS_ACCESS_KEY_ID
    secret_access_key: !env AWS_SECRET_ACCESS_KEY
    session_token: {name: AWS_SESSION_TOKEN, value: !env PROD_TOKEN}
    scopes: ["*.amazonaws.com"]
network_sandbox: false
resource_limits: {timeout: 60, memory: 2g, cpus: 1.5, pids_limit: 256}
`), lookup)
	if err != nil {
		t.Fatal(err)
	}
	ms := f.MaskedSecrets["API_TOKEN"]
	switch {
	case f.Env["A"] != "b" || f.Env["C"] != "p":
		t.Errorf("env = %v", f.Env)
	case len(f.PassEnv) != 1 || f.PassEnv[0] != "HOME":
		t.Errorf("pass_env = %v", f.PassEnv)
	case ms.Value != "tok-123" || ms.Scopes[0] != "api.example.com" || ms.Headers[0] != "Authorization" || !ms.AllowForeignCredentials:
		t.Errorf("masked secret = %+v", ms)
	case f.Sandboxed():
		t.Error("network_sandbox: false ignored")
	case f.SigningCredentials["AWS"].AccessKeyID != NamedSecret{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"} ||
		f.SigningCredentials["AWS"].SecretAccessKey.Name != "AWS_SECRET_ACCESS_KEY" ||
		*f.SigningCredentials["AWS"].SessionToken != NamedSecret{"AWS_SESSION_TOKEN", "FwoGZXIvYXdzEJr"}:
		t.Errorf("signing credential = %+v (the !env shorthand names the container variable after VAR)", f.SigningCredentials["AWS"])
	case f.ResourceLimits != (ResourceLimits{Timeout: 60, Memory: "2g", CPUs: 1.5, PidsLimit: 256}):
		t.Errorf("resource_limits = %+v", f.ResourceLimits)
	}

	empty, err := ParseSandboxFile("x", nil, lookup)
	if err != nil || !empty.Sandboxed() || len(empty.Env) != 0 {
		t.Errorf("empty file: %+v, %v; want the defaults", empty, err)
	}
}

func TestParseSandboxFileErrors(t *testing.T) {
	lookup := func(k string) (string, bool) { return "", k == "EMPTY" }
	_, err := ParseSandboxFile("s.yaml", []byte(`env:
  A: !env MISSING
pass_env: HOME
masked_secrets:
  TOK: {value: !env EMPTY}
  GONE: {value: !env ALSO_MISSING, scopes: [x]}
resource_limits: {memory: 0g, timout: 5}
extra: 1
signing_credentials:
  AWS: {type: aws-sigv4, access_key_id: !env UNSET_KEY, secret_access_key: !env EMPTY, scopes: [s3.test]}
`), lookup)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"s.yaml:2: env.A: !env MISSING: the variable is not set (set MISSING, or remove the key)",
		"s.yaml:3: pass_env: must be a list of strings, got a string",
		"s.yaml:5: masked_secrets.TOK.value: is empty",
		"s.yaml:5: masked_secrets.TOK.scopes: needs at least one host",
		"s.yaml:6: masked_secrets.GONE.value: !env ALSO_MISSING: the variable is not set",
		"s.yaml:7: resource_limits.memory: must be a non-zero size",
		`s.yaml:7: resource_limits.timout: unknown key (did you mean "timeout"?)`,
		"s.yaml:8: extra: unknown key",
		"s.yaml:10: signing_credentials.AWS.access_key_id.value: !env UNSET_KEY: the variable is not set",
		"s.yaml:10: signing_credentials.AWS.secret_access_key.value: is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "masked_secrets.GONE.value: is empty") {
		t.Errorf("an unset !env is reported once, as unset:\n%v", err)
	}
}
