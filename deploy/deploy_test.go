package deploy_test

// These tests check the recipes in compose/ and kubernetes/ without
// running them: no network, no container engine, no cluster. What they
// can check here they do by parsing: the compose service graph
// (dependencies, health checks, published ports, variables, pinned
// images), every Kubernetes manifest (fields, security settings,
// references between objects), the Airut configs the manifests carry
// (loaded with Airut's own config loader), the values for Temporal's Helm
// chart, and that the namespace setup registers exactly the search
// attributes Airut's workflows set. (No compose CLI or kubectl is
// installed by the project's scripts, so none is run: a check that runs
// only where someone installed a tool by hand would be a check that a
// bare machine skips.)

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

const (
	composeDir = "compose"
	composeYML = "compose/compose.yaml"
	envExample = "compose/.env.example"
	kubeDir    = "kubernetes"
	helmValues = "kubernetes/temporal-values.yaml"
	setupJob   = "kubernetes/airut-temporal-setup.yaml"
	// airutImage is the name the manifests give Airut's image, which
	// README.md says how to build and point at.
	airutImage = "airut"
)

// ---- compose ----

type composeFile struct {
	Name     string                     `yaml:"name"`
	Services map[string]*composeService `yaml:"services"`
	Volumes  map[string]any             `yaml:"volumes"`
}

type composeService struct {
	Image       string             `yaml:"image"`
	Restart     string             `yaml:"restart"`
	DependsOn   yaml.Node          `yaml:"depends_on"`
	Healthcheck *composeHealth     `yaml:"healthcheck"`
	Ports       []yaml.Node        `yaml:"ports"`
	Volumes     []yaml.Node        `yaml:"volumes"`
	Environment yaml.Node          `yaml:"environment"`
	Entrypoint  composeCommandLine `yaml:"entrypoint"`
	Command     composeCommandLine `yaml:"command"`
}

type composeHealth struct {
	Test    composeCommandLine `yaml:"test"`
	Disable bool               `yaml:"disable"`
}

// composeCommandLine is a command in either of compose's forms: a string
// or a list of strings.
type composeCommandLine []string

func (c *composeCommandLine) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = strings.Fields(n.Value)
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*c = list
	return nil
}

// validConditions are compose's depends_on conditions.
var validConditions = []string{"service_started", "service_healthy", "service_completed_successfully"}

type dependency struct{ service, condition string }

// dependencies reads depends_on in its short (a list of names) or long
// (a map of name to condition) form.
func dependencies(t *testing.T, name string, n yaml.Node) []dependency {
	t.Helper()
	var deps []dependency
	switch n.Kind {
	case 0:
	case yaml.SequenceNode:
		for _, c := range n.Content {
			deps = append(deps, dependency{c.Value, "service_started"})
		}
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			var long struct {
				Condition string `yaml:"condition"`
			}
			if err := n.Content[i+1].Decode(&long); err != nil {
				t.Errorf("service %s: depends_on.%s: %v", name, n.Content[i].Value, err)
			}
			if long.Condition == "" {
				long.Condition = "service_started"
			}
			deps = append(deps, dependency{n.Content[i].Value, long.Condition})
		}
	default:
		t.Errorf("service %s: depends_on is neither a list nor a map", name)
	}
	return deps
}

// environment reads environment in its map or KEY=VALUE list form.
func environment(t *testing.T, name string, n yaml.Node) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch n.Kind {
	case 0:
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			env[n.Content[i].Value] = n.Content[i+1].Value
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			k, v, _ := strings.Cut(c.Value, "=")
			env[k] = v
		}
	default:
		t.Errorf("service %s: environment is neither a map nor a list", name)
	}
	return env
}

type mount struct {
	source, target string
	bind           bool
}

// mounts reads a service's volumes in the short ("src:dst[:mode]") or
// long form.
func mounts(t *testing.T, name string, nodes []yaml.Node) []mount {
	t.Helper()
	var out []mount
	for _, n := range nodes {
		var m mount
		if n.Kind == yaml.ScalarNode {
			parts := strings.Split(n.Value, ":")
			if len(parts) < 2 {
				t.Errorf("service %s: volume %q has no source: an anonymous volume is lost with the container", name, n.Value)
				continue
			}
			m = mount{source: parts[0], target: parts[1]}
		} else {
			var long struct{ Type, Source, Target string }
			if err := n.Decode(&long); err != nil {
				t.Errorf("service %s: volume: %v", name, err)
				continue
			}
			m = mount{source: long.Source, target: long.Target, bind: long.Type == "bind"}
		}
		m.bind = m.bind || strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/")
		out = append(out, m)
	}
	return out
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	data, err := os.ReadFile(composeYML)
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatalf("%s: %v", composeYML, err)
	}
	if len(cf.Services) == 0 {
		t.Fatalf("%s: no services", composeYML)
	}
	return &cf
}

// TestComposeServiceGraph checks the services and how they depend on one
// another: the targets exist, the conditions are compose's, a service
// waited for as healthy has a health check, a one-shot waited for as
// completed does not restart forever, and there is no cycle.
func TestComposeServiceGraph(t *testing.T) {
	cf := loadCompose(t)
	for _, want := range []string{"postgresql", "temporal", "temporal-ui"} {
		if cf.Services[want] == nil {
			t.Errorf("no service %s", want)
		}
	}
	graph := map[string][]string{}
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		for _, d := range dependencies(t, name, s.DependsOn) {
			graph[name] = append(graph[name], d.service)
			target := cf.Services[d.service]
			if target == nil {
				t.Errorf("service %s depends on %s, which is not a service", name, d.service)
				continue
			}
			switch d.condition {
			case "service_healthy":
				if h := target.Healthcheck; h == nil || h.Disable || len(h.Test) == 0 || h.Test[0] == "NONE" {
					t.Errorf("service %s waits for %s to be healthy, which has no health check", name, d.service)
				}
			case "service_completed_successfully":
				if target.Restart == "always" || target.Restart == "unless-stopped" {
					t.Errorf("service %s waits for %s to complete, which restarts %s", name, d.service, target.Restart)
				}
			case "service_started":
			default:
				t.Errorf("service %s: depends_on %s has condition %q, want one of %v", name, d.service, d.condition, validConditions)
			}
		}
	}
	if cycle := findCycle(graph); cycle != nil {
		t.Errorf("depends_on has a cycle: %s", strings.Join(cycle, " -> "))
	}
}

// findCycle returns a dependency cycle (its first service repeated at the
// end), or nil.
func findCycle(graph map[string][]string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = onPath
		path = append(path, n)
		for _, m := range graph[n] {
			switch state[m] {
			case onPath:
				i := slices.Index(path, m)
				return append(slices.Clone(path[i:]), m)
			case unseen:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, n := range sortedKeys(graph) {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

func TestFindCycle(t *testing.T) {
	if c := findCycle(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}); len(c) != 4 || c[0] != c[3] {
		t.Errorf("cycle a->b->c->a: got %v", c)
	}
	if c := findCycle(map[string][]string{"a": {"b", "c"}, "b": {"c"}, "c": nil}); c != nil {
		t.Errorf("diamond: got cycle %v", c)
	}
}

// TestComposePortsAndImages: every published port is on 127.0.0.1, and
// every image has a pinned tag.
func TestComposePortsAndImages(t *testing.T) {
	cf := loadCompose(t)
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		if err := pinned(s.Image); err != nil {
			t.Errorf("service %s: image %q: %v", name, s.Image, err)
		}
		for _, p := range s.Ports {
			if ip := publishedIP(p); ip != "127.0.0.1" {
				t.Errorf("service %s: port %s is published on %q, want 127.0.0.1 (the frontend has no authentication)", name, nodeText(p), ip)
			}
		}
	}
}

// publishedIP is the host address of a port in the short
// ("[ip:]host:container[/proto]") or long (host_ip) form; "" when unset.
func publishedIP(n yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		var long struct {
			HostIP string `yaml:"host_ip"`
		}
		_ = n.Decode(&long)
		return long.HostIP
	}
	parts := strings.Split(n.Value, ":")
	if len(parts) < 3 {
		return ""
	}
	return strings.Join(parts[:len(parts)-2], ":")
}

func TestPublishedIP(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7233:7233": "127.0.0.1", "7233:7233": "", "7233": "", "0.0.0.0:80:80/tcp": "0.0.0.0",
	} {
		if got := publishedIP(yaml.Node{Kind: yaml.ScalarNode, Value: in}); got != want {
			t.Errorf("publishedIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// pinned reports why an image reference is not pinned to a version:
// no tag, the tag latest, or a variable in it.
func pinned(image string) error {
	switch {
	case image == "":
		return fmt.Errorf("no image")
	case strings.Contains(image, "$"):
		return fmt.Errorf("has a variable: pin the version in the file")
	case strings.Contains(image, "@sha256:"):
		return nil
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("no tag (that means latest)")
	case tag == "latest":
		return fmt.Errorf("tag latest is not a version")
	}
	return nil
}

func TestPinned(t *testing.T) {
	for image, ok := range map[string]bool{
		"postgres:16": true, "temporalio/ui:2.54.1": true, "host:5000/a/b:1.0": true, "a@sha256:00": true,
		"postgres": false, "postgres:latest": false, "host:5000/a/b": false, "temporalio/server:${V}": false,
	} {
		if err := pinned(image); (err == nil) != ok {
			t.Errorf("pinned(%q) = %v, want ok %v", image, err, ok)
		}
	}
}

// varPattern finds compose's interpolations: $$ (a literal $), ${NAME},
// ${NAME:-default}, ${NAME:?error} and friends, and $NAME.
var varPattern = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// composeVariables lists the variables the compose file interpolates, in
// its values and keys (comments are not interpolated).
func composeVariables(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(composeYML)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range varPattern.FindAllStringSubmatch(n.Value, -1) {
				if v := m[1] + m[2]; v != "" {
					vars[v] = true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return vars
}

// readEnvFile reads KEY=VALUE lines, skipping comments and blank lines.
func readEnvFile(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			t.Errorf("%s:%d: not KEY=VALUE: %q", file, i+1, line)
			continue
		}
		env[k] = v
	}
	return env
}

// TestComposeVariablesAreInEnvExample: every variable the compose file
// uses is listed in .env.example (and nothing else is), and the secrets
// there are left for the operator to fill in.
func TestComposeVariablesAreInEnvExample(t *testing.T) {
	used := composeVariables(t)
	listed := readEnvFile(t, envExample)
	if len(used) == 0 {
		t.Fatalf("%s uses no variables; at least the database password should be one", composeYML)
	}
	for _, v := range sortedKeys(used) {
		if _, ok := listed[v]; !ok {
			t.Errorf("%s uses ${%s}, which %s does not list", composeYML, v, envExample)
		}
	}
	for _, k := range sortedKeys(listed) {
		if !used[k] {
			t.Errorf("%s lists %s, which %s does not use", envExample, k, composeYML)
		}
		if secretName(k) && listed[k] != "" {
			t.Errorf("%s gives %s a value: leave secrets empty for the operator to fill in", envExample, k)
		}
	}
	if _, ok := listed["POSTGRES_PASSWORD"]; !ok {
		t.Errorf("%s does not list POSTGRES_PASSWORD", envExample)
	}
}

func secretName(k string) bool {
	return regexp.MustCompile(`PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE`).MatchString(k)
}

// TestComposeMountsAndFiles: bind-mounted files exist, named volumes are
// declared, PostgreSQL keeps its data in a named volume, the scripts the
// one-shot jobs run exist, and the server's dynamic config parses.
func TestComposeMountsAndFiles(t *testing.T) {
	cf := loadCompose(t)
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		ms := mounts(t, name, s.Volumes)
		hostPath := func(p string) (string, bool) {
			for _, m := range ms {
				if m.bind && (p == m.target || strings.HasPrefix(p, m.target+"/")) {
					return filepath.Join(composeDir, m.source, strings.TrimPrefix(p, m.target)), true
				}
			}
			return "", false
		}
		for _, m := range ms {
			switch {
			case m.bind && filepath.IsAbs(m.source):
				t.Errorf("service %s: bind mount of host path %s: keep recipes to files in %s", name, m.source, composeDir)
			case m.bind:
				if _, err := os.Stat(filepath.Join(composeDir, m.source)); err != nil {
					t.Errorf("service %s: bind mount source: %v", name, err)
				}
			default:
				if _, ok := cf.Volumes[m.source]; !ok {
					t.Errorf("service %s: volume %s is not declared under volumes:", name, m.source)
				}
			}
		}
		// A script the service runs from a bind mount must be there.
		for _, arg := range append(slices.Clone(s.Entrypoint), s.Command...) {
			if !strings.HasPrefix(arg, "/") || !strings.HasSuffix(arg, ".sh") {
				continue
			}
			if p, ok := hostPath(arg); !ok {
				t.Errorf("service %s runs %s, which no bind mount provides", name, arg)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("service %s runs %s: %v", name, arg, err)
			}
		}
		if dc := environment(t, name, s.Environment)["DYNAMIC_CONFIG_FILE_PATH"]; dc != "" {
			p, ok := hostPath(dc)
			if !ok {
				t.Errorf("service %s: DYNAMIC_CONFIG_FILE_PATH %s is not in a bind mount", name, dc)
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("service %s: dynamic config: %v", name, err)
				continue
			}
			var settings map[string][]struct {
				Value       any            `yaml:"value"`
				Constraints map[string]any `yaml:"constraints"`
			}
			if err := yaml.Unmarshal(data, &settings); err != nil {
				t.Errorf("%s: not Temporal dynamic config (key: [{value, constraints}]): %v", p, err)
			}
		}
	}

	pg := cf.Services["postgresql"]
	if pg == nil {
		t.Fatal("no postgresql service")
	}
	dataDir := "/var/lib/postgresql/data"
	if major, _ := strconv.Atoi(strings.SplitN(strings.SplitN(pg.Image, ":", 2)[1], ".", 2)[0]); major >= 18 {
		dataDir = "/var/lib/postgresql" // the official image's layout from 18 on
	}
	kept := false
	for _, m := range mounts(t, "postgresql", pg.Volumes) {
		kept = kept || (!m.bind && m.target == dataDir)
	}
	if !kept {
		t.Errorf("postgresql: no named volume at %s: the database would go with the container", dataDir)
	}
}

// ---- the namespace setup (compose and Kubernetes) ----

// registeredSearchAttributes reads the names the setup script registers
// (its `for name in ...; do` loop).
func registeredSearchAttributes(t *testing.T, script string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^for name in ([A-Za-z0-9 ]+); do$`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("the setup script has no `for name in ...; do` loop over the search attributes")
	}
	names := strings.Fields(m[1])
	slices.Sort(names)
	return names
}

// TestNamespaceSetupRegistersAirutsSearchAttributes: the script that
// prepares a Temporal cluster for Airut registers exactly the search
// attributes Airut's messages and workflows set (a cluster without them
// refuses Airut's first message), as Keyword; and the Kubernetes Job runs
// the same script as compose.
func TestNamespaceSetupRegistersAirutsSearchAttributes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(composeDir, "scripts", "setup-namespace.sh"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	want := slices.Sorted(slices.Values(workflows.SearchAttributeNames()))
	if got := registeredSearchAttributes(t, script); !slices.Equal(got, want) {
		t.Errorf("setup-namespace.sh registers %v, want workflows.SearchAttributeNames() %v", got, want)
	}
	if !strings.Contains(script, "--type Keyword") {
		t.Errorf("setup-namespace.sh does not create the attributes as Keyword")
	}

	var cm *k8sObject
	for _, o := range loadManifests(t, setupJob) {
		if o.Kind == "ConfigMap" {
			cm = o
		}
	}
	if cm == nil {
		t.Fatalf("%s has no ConfigMap with the script", setupJob)
	}
	if got := cm.Data["setup-namespace.sh"]; got != script {
		t.Errorf("%s: the ConfigMap's setup-namespace.sh differs from compose/scripts/setup-namespace.sh; copy it over verbatim", setupJob)
	}
}

// ---- Kubernetes ----

type k8sObject struct {
	File       string            `yaml:"-"`
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   k8sMeta           `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	Spec       yaml.Node         `yaml:"spec"`
}

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type workloadSpec struct {
	Replicas *int `yaml:"replicas"`
	Strategy struct {
		Type string `yaml:"type"`
	} `yaml:"strategy"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template podTemplate `yaml:"template"`
}

type podTemplate struct {
	Metadata k8sMeta `yaml:"metadata"`
	Spec     podSpec `yaml:"spec"`
}

type podSpec struct {
	SecurityContext *securityContext `yaml:"securityContext"`
	Containers      []container      `yaml:"containers"`
	InitContainers  []container      `yaml:"initContainers"`
	Volumes         []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir any `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type container struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image"`
	Command         []string         `yaml:"command"`
	Args            []string         `yaml:"args"`
	SecurityContext *securityContext `yaml:"securityContext"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// loadManifests parses every YAML document of a file into objects,
// skipping empty documents.
func loadManifests(t *testing.T, file string) []*k8sObject {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*k8sObject
	for i := 0; ; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			continue
		}
		o := &k8sObject{File: file}
		if err := n.Decode(o); err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		out = append(out, o)
	}
	return out
}

// manifestFiles are the manifests in kubernetes/: every YAML file but the
// Helm values and the kustomization.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if f != helmValues && filepath.Base(f) != "kustomization.yaml" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no manifests in %s", kubeDir)
	}
	return out
}

func allManifests(t *testing.T) []*k8sObject {
	t.Helper()
	var all []*k8sObject
	for _, f := range manifestFiles(t) {
		all = append(all, loadManifests(t, f)...)
	}
	return all
}

func pods(t *testing.T, objs []*k8sObject) map[*k8sObject]*workloadSpec {
	t.Helper()
	out := map[*k8sObject]*workloadSpec{}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			var w workloadSpec
			if err := o.Spec.Decode(&w); err != nil {
				t.Fatalf("%s: %s %s: %v", o.File, o.Kind, o.Metadata.Name, err)
			}
			out[o] = &w
		}
	}
	return out
}

// TestKubernetesManifests: every document parses and names itself, and
// the objects refer only to one another (or to the Secrets README.md
// says to create).
func TestKubernetesManifests(t *testing.T) {
	objs := allManifests(t)
	byKind := map[string]map[string]*k8sObject{}
	for _, o := range objs {
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%s: a document without apiVersion, kind or metadata.name: %+v", o.File, o.Metadata)
			continue
		}
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]*k8sObject{}
		}
		if byKind[o.Kind][o.Metadata.Name] != nil {
			t.Errorf("%s: two %s named %s", o.File, o.Kind, o.Metadata.Name)
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	readme, err := os.ReadFile(filepath.Join(kubeDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	workloads := pods(t, objs)
	if len(workloads) == 0 {
		t.Fatal("no Deployments or Jobs")
	}
	for o, w := range workloads {
		where := fmt.Sprintf("%s: %s %s", o.File, o.Kind, o.Metadata.Name)
		if o.Kind != "Job" {
			if len(w.Selector.MatchLabels) == 0 {
				t.Errorf("%s: no selector", where)
			}
			for k, v := range w.Selector.MatchLabels {
				if w.Template.Metadata.Labels[k] != v {
					t.Errorf("%s: the selector's %s=%s is not a label of the pod template", where, k, v)
				}
			}
		}
		spec := w.Template.Spec
		volumes := map[string]bool{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = true
			if v.ConfigMap != nil && byKind["ConfigMap"][v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s is ConfigMap %s, which no manifest makes", where, v.Name, v.ConfigMap.Name)
			}
			if c := v.PersistentVolumeClaim; c != nil && byKind["PersistentVolumeClaim"][c.ClaimName] == nil {
				t.Errorf("%s: volume %s is claim %s, which no manifest makes", where, v.Name, c.ClaimName)
			}
		}
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					t.Errorf("%s: container %s mounts %s, which is not a volume of the pod", where, c.Name, m.Name)
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef == nil {
					continue
				}
				if byKind["Secret"][e.SecretRef.Name] == nil && !bytes.Contains(readme, []byte("create secret generic "+e.SecretRef.Name)) {
					t.Errorf("%s: container %s reads Secret %s, which neither a manifest makes nor README.md says to create", where, c.Name, e.SecretRef.Name)
				}
			}
		}
	}
	for _, svc := range byKind["Service"] {
		var spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				TargetPort yaml.Node `yaml:"targetPort"`
			} `yaml:"ports"`
		}
		if err := svc.Spec.Decode(&spec); err != nil {
			t.Fatal(err)
		}
		var target *workloadSpec
		for o, w := range workloads {
			if o.Kind == "Deployment" && len(spec.Selector) > 0 && subset(spec.Selector, w.Template.Metadata.Labels) {
				target = w
			}
		}
		if target == nil {
			t.Errorf("%s: Service %s selects no Deployment's pods", svc.File, svc.Metadata.Name)
			continue
		}
		for _, p := range spec.Ports {
			found := false
			for _, c := range target.Template.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == p.TargetPort.Value || strconv.Itoa(cp.ContainerPort) == p.TargetPort.Value
				}
			}
			if !found {
				t.Errorf("%s: Service %s targets port %s, which its pods do not have", svc.File, svc.Metadata.Name, p.TargetPort.Value)
			}
		}
	}
}

func subset(sub, set map[string]string) bool {
	for k, v := range sub {
		if set[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesPodsAreLockedDown: every container runs as a numeric
// non-root user, cannot gain privileges, has a read-only root filesystem,
// drops every capability, has resource requests and a memory limit, and
// runs a pinned image; Airut's containers run only the roles that belong
// in Kubernetes.
func TestKubernetesPodsAreLockedDown(t *testing.T) {
	for o, w := range pods(t, allManifests(t)) {
		spec := w.Template.Spec
		pod := spec.SecurityContext
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			where := fmt.Sprintf("%s: %s %s, container %s", o.File, o.Kind, o.Metadata.Name, c.Name)
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			if !isTrue(sc.RunAsNonRoot) {
				t.Errorf("%s: securityContext.runAsNonRoot is not true", where)
			}
			// The kubelet can check runAsNonRoot only against a numeric
			// user: an image whose USER is a name would not start.
			if uid := sc.RunAsUser; uid == nil && (pod == nil || pod.RunAsUser == nil) {
				t.Errorf("%s: no runAsUser (in the container or the pod)", where)
			} else if uid == nil && *pod.RunAsUser == 0 || uid != nil && *uid == 0 {
				t.Errorf("%s: runAsUser 0", where)
			}
			if !isFalse(sc.AllowPrivilegeEscalation) {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities do not drop ALL", where)
			}
			if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
				t.Errorf("%s: resources want cpu and memory requests and a memory limit, got %+v", where, c.Resources)
			}
			if err := pinned(c.Image); err != nil {
				t.Errorf("%s: image %q: %v", where, c.Image, err)
			}
			if strings.HasPrefix(c.Image, airutImage+":") {
				role := ""
				if len(c.Args) > 0 {
					role = c.Args[0]
				}
				if role != "ingest" && role != "dashboard" {
					t.Errorf("%s: runs `airut %s`; only ingest and dashboard belong in Kubernetes (workers need Podman on their host)", where, role)
				}
			}
		}
	}
}

// airutConfigs finds Airut's containers and the airut.yaml each reads
// (--config, in a mounted ConfigMap).
type airutContainer struct {
	where    string
	obj      *k8sObject
	workload *workloadSpec
	c        container
	role     string
	config   string // the airut.yaml text
}

func airutContainers(t *testing.T) []airutContainer {
	t.Helper()
	objs := allManifests(t)
	configMaps := map[string]*k8sObject{}
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = o
		}
	}
	var out []airutContainer
	for o, w := range pods(t, objs) {
		for _, c := range w.Template.Spec.Containers {
			if !strings.HasPrefix(c.Image, airutImage+":") {
				continue
			}
			ac := airutContainer{where: fmt.Sprintf("%s: %s %s", o.File, o.Kind, o.Metadata.Name), obj: o, workload: w, c: c}
			if len(c.Args) > 0 {
				ac.role = c.Args[0]
			}
			i := slices.Index(c.Args, "--config")
			if i < 0 || i+1 >= len(c.Args) {
				t.Errorf("%s: airut runs without --config", ac.where)
				continue
			}
			file := c.Args[i+1]
			for _, m := range c.VolumeMounts {
				if path.Dir(file) != m.MountPath {
					continue
				}
				for _, v := range w.Template.Spec.Volumes {
					if v.Name == m.Name && v.ConfigMap != nil && configMaps[v.ConfigMap.Name] != nil {
						text, ok := configMaps[v.ConfigMap.Name].Data[path.Base(file)]
						if !ok {
							t.Errorf("%s: --config %s: ConfigMap %s has no key %s", ac.where, file, v.ConfigMap.Name, path.Base(file))
						}
						ac.config = text
					}
				}
			}
			if ac.config == "" {
				t.Errorf("%s: --config %s is not in a mounted ConfigMap", ac.where, file)
				continue
			}
			out = append(out, ac)
		}
	}
	if len(out) == 0 {
		t.Fatal("no Airut containers in the manifests")
	}
	slices.SortFunc(out, func(a, b airutContainer) int { return strings.Compare(a.where, b.where) })
	return out
}

// envTags lists the variables an Airut config reads with !env.
func envTags(t *testing.T, text string) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!env" {
			names = append(names, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return names
}

// testValue is a stand-in for a secret that passes the config's checks.
func testValue(name string) string {
	switch {
	case strings.Contains(name, "SLACK_BOT"):
		return "xoxb-test-0123456789"
	case strings.Contains(name, "SLACK_APP"):
		return "xapp-test-0123456789"
	}
	return "test-value-0123456789abcdef"
}

// TestKubernetesAirutConfigsLoad loads each ConfigMap's airut.yaml with
// Airut's config loader (its !env variables set as the Secret would set
// them) and checks it fits its pod: it points at a Temporal cluster
// rather than an embedded server, keeps its state on writable volumes,
// and, for ingest, holds one channel account in a single pod; for the
// dashboard, listens where its Service sends and requires a login.
func TestKubernetesAirutConfigsLoad(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(kubeDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	namespaces := map[string]bool{}
	roles := map[string]bool{}
	for _, ac := range airutContainers(t) {
		t.Run(ac.obj.Metadata.Name, func(t *testing.T) {
			roles[ac.role] = true
			for _, name := range envTags(t, ac.config) {
				t.Setenv(name, testValue(name))
				if !bytes.Contains(readme, []byte(name)) {
					t.Errorf("%s: the config reads !env %s, which README.md does not say to put in the Secret", ac.where, name)
				}
			}
			file := filepath.Join(t.TempDir(), "airut.yaml")
			if err := os.WriteFile(file, []byte(ac.config), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(file)
			if err != nil {
				t.Fatalf("%s: airut.yaml does not load:\n%v", ac.where, err)
			}
			if len(cfg.UnsetEnv) > 0 {
				t.Errorf("%s: unset variables: %v", ac.where, cfg.UnsetEnv)
			}
			if cfg.Temporal.Address == "" {
				t.Errorf("%s: no temporal.address: airut %s would look for an embedded server on localhost", ac.where, ac.role)
			}
			namespaces[cfg.Temporal.Namespace] = true

			writable := func(key, dir string) {
				for _, m := range ac.c.VolumeMounts {
					if !m.ReadOnly && (dir == m.MountPath || strings.HasPrefix(dir, m.MountPath+"/")) {
						return
					}
				}
				t.Errorf("%s: %s %s is not on a writable volume (the root filesystem is read-only)", ac.where, key, dir)
			}
			writable("state_dir", cfg.StateDir)
			ports := map[int]string{}
			for _, p := range ac.c.Ports {
				ports[p.ContainerPort] = p.Name
			}
			if cfg.Metrics.Port != 0 {
				if _, ok := ports[cfg.Metrics.Port]; !ok {
					t.Errorf("%s: metrics.port %d is not a containerPort", ac.where, cfg.Metrics.Port)
				}
			}

			switch ac.role {
			case "ingest":
				writable("attachments_dir", cfg.AttachmentsDir)
				accounts := 0
				for _, r := range cfg.Repos {
					if r.Email != nil {
						accounts++
					}
					if r.Slack != nil {
						accounts++
					}
				}
				if accounts != 1 {
					t.Errorf("%s: %d channel accounts; one ingest runs one (two listeners on one account compete for its messages)", ac.where, accounts)
				}
				if r := ac.workload.Replicas; r == nil || *r != 1 || ac.workload.Strategy.Type != "Recreate" {
					t.Errorf("%s: want replicas 1 and strategy Recreate, so one listener per account runs at any time", ac.where)
				}
			case "dashboard":
				d := cfg.Dashboard
				if ip := d.Host; ip == "127.0.0.1" || ip == "localhost" || ip == "::1" {
					t.Errorf("%s: dashboard.host %s cannot be reached through a Service", ac.where, ip)
				}
				if d.AuthToken == "" && d.TrustedProxyHeader == "" {
					t.Errorf("%s: the dashboard requires no login (dashboard.auth_token or trusted_proxy_header)", ac.where)
				}
				if _, ok := ports[d.Port]; !ok {
					t.Errorf("%s: dashboard.port %d is not a containerPort", ac.where, d.Port)
				}
				if d.BaseURL == "" {
					t.Errorf("%s: no dashboard.base_url: the dashboard answers only Host names it knows", ac.where)
				}
			}
		})
	}
	for _, role := range []string{"ingest", "dashboard"} {
		if !roles[role] {
			t.Errorf("no manifest runs airut %s", role)
		}
	}

	// The namespace the configs use is the one the setup Job prepares.
	for o, w := range pods(t, loadManifests(t, setupJob)) {
		for _, c := range w.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == "TEMPORAL_NAMESPACE" && !namespaces[e.Value] {
					t.Errorf("%s: %s prepares namespace %s; the Airut configs use %v", o.File, o.Metadata.Name, e.Value, sortedKeys(namespaces))
				}
			}
		}
	}
}

// TestHelmValues checks the values for Temporal's chart: they parse, use
// PostgreSQL for executions and SQL visibility with the password from a
// Secret, pin the server release Airut embeds, create Airut's namespace,
// and use none of the keys the chart removed (it refuses to render them).
func TestHelmValues(t *testing.T) {
	data, err := os.ReadFile(helmValues)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", helmValues, err)
	}
	for _, removed := range []string{"cassandra", "elasticsearch", "prometheus", "grafana", "mysql", "postgresql"} {
		if _, ok := v[removed]; ok {
			t.Errorf("%s: top-level key %s: the chart (1.0 on) removed its sub-charts and fails on it", helmValues, removed)
		}
	}
	get := func(keys ...string) any {
		var cur any = v
		for _, k := range keys {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		}
		return cur
	}
	str := func(keys ...string) string { s, _ := get(keys...).(string); return s }

	p := []string{"server", "config", "persistence"}
	for _, legacy := range []string{"default", "visibility"} {
		if get(append(p, legacy)...) != nil {
			t.Errorf("%s: server.config.persistence.%s is the old layout; stores go under datastores", helmValues, legacy)
		}
	}
	if s := str(append(p, "defaultStore")...); s != "default" {
		t.Errorf("defaultStore = %q, want default", s)
	}
	// The chart's schema job takes the store's name for the schema
	// directory: the visibility store must be named visibility.
	if s := str(append(p, "visibilityStore")...); s != "visibility" {
		t.Errorf("visibilityStore = %q, want visibility", s)
	}
	for _, store := range []string{"default", "visibility"} {
		sql, ok := get(append(p, "datastores", store, "sql")...).(map[string]any)
		if !ok {
			t.Errorf("datastores.%s has no sql store", store)
			continue
		}
		if pl := sql["pluginName"]; pl != "postgres12" && pl != "postgres12_pgx" {
			t.Errorf("datastores.%s.sql.pluginName = %v, want postgres12", store, pl)
		}
		if _, ok := sql["password"]; ok {
			t.Errorf("datastores.%s.sql has a password: use existingSecret", store)
		}
		if sql["existingSecret"] == nil || sql["databaseName"] == nil {
			t.Errorf("datastores.%s.sql needs existingSecret and databaseName", store)
		}
		if addr, _ := sql["connectAddr"].(string); !regexp.MustCompile(`^[^:]+:[0-9]+$`).MatchString(addr) {
			t.Errorf("datastores.%s.sql.connectAddr = %q, want host:port", store, addr)
		}
	}
	if n, ok := get(append(p, "numHistoryShards")...).(int); !ok || n < 1 {
		t.Errorf("numHistoryShards not set: it cannot change after the first install, choose it")
	}

	server, admin, ui := str("server", "image", "tag"), str("admintools", "image", "tag"), str("web", "image", "tag")
	for name, tag := range map[string]string{"server": server, "admintools": admin, "web": ui} {
		if err := pinned("image:" + tag); err != nil {
			t.Errorf("%s.image.tag %q: %v", name, tag, err)
		}
	}
	if server != admin {
		t.Errorf("server.image.tag %s and admintools.image.tag %s differ: the schema job's schemas must match the server", server, admin)
	}
	embedded := embeddedServerMinor(t)
	if !strings.HasPrefix(server+".", embedded+".") {
		t.Errorf("server.image.tag %s is not Temporal %s, the release Airut embeds (go.mod)", server, embedded)
	}
	cf := loadCompose(t)
	for _, name := range sortedKeys(cf.Services) {
		img := cf.Services[name].Image
		if strings.HasPrefix(img, "temporalio/server:") || strings.HasPrefix(img, "temporalio/admin-tools:") {
			if tag := img[strings.LastIndex(img, ":")+1:]; tag != server {
				t.Errorf("compose service %s runs %s; the Helm values run %s: keep the recipes on one release", name, img, server)
			}
		}
		if strings.HasPrefix(img, "temporalio/ui:") && img != "temporalio/ui:"+ui {
			t.Errorf("compose service %s runs %s; the Helm values run UI %s", name, img, ui)
		}
	}

	if get("server", "config", "namespaces", "create") != true {
		t.Errorf("server.config.namespaces.create is not true")
	}
	found := false
	if list, ok := get("server", "config", "namespaces", "namespace").([]any); ok {
		for _, ns := range list {
			m, _ := ns.(map[string]any)
			found = found || m["name"] == config.DefaultNamespace
		}
	}
	if !found {
		t.Errorf("server.config.namespaces.namespace does not create %q, the namespace the Airut configs use", config.DefaultNamespace)
	}
}

// embeddedServerMinor is the Temporal server release (major.minor) that
// go.mod requires, the one `airut server` embeds.
func embeddedServerMinor(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*go\.temporal\.io/server v(\d+\.\d+)\.`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod does not require go.temporal.io/server")
	}
	return string(m[1])
}

// TestKustomizationListsEveryManifest: `kubectl apply -k` applies every
// manifest in the directory, and only files that are there.
func TestKustomizationListsEveryManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Kind      string   `yaml:"kind"`
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	if k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: kind %q", k.Kind)
	}
	var want []string
	for _, f := range manifestFiles(t) {
		want = append(want, filepath.Base(f))
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %v, want the manifests %v", got, want)
	}
}

// TestDockerfileBuildsLikeTheMakefile: the image is built with the
// Makefile's build tags, statically, and runs as a numeric non-root user.
func TestDockerfileBuildsLikeTheMakefile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(kubeDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TAGS\s*:?=\s*(\S+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile sets no TAGS")
	}
	if !strings.Contains(df, "ARG TAGS="+string(m[1])+"\n") {
		t.Errorf("Dockerfile: ARG TAGS is not the Makefile's %s", m[1])
	}
	for _, want := range []string{"CGO_ENABLED=0", `-tags "$TAGS"`, "./cmd/airut"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	for _, from := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1) {
		if from[1] != "scratch" {
			if err := pinned(from[1]); err != nil {
				t.Errorf("Dockerfile: FROM %s: %v", from[1], err)
			}
		}
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Fatal("Dockerfile: the image runs as root (no USER)")
	}
	uid, err := strconv.Atoi(strings.SplitN(users[len(users)-1][1], ":", 2)[0])
	if err != nil || uid == 0 {
		t.Errorf("Dockerfile: USER %s: want a numeric non-root user (runAsNonRoot can check only a number)", users[len(users)-1][1])
	}
}

func nodeText(n yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	b, _ := yaml.Marshal(&n)
	return strings.TrimSpace(string(b))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
