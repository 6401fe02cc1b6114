package k8scheck

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// services are the services of README.md: six and the storefront.
var services = []string{"auth", "tickets", "orders", "expiration", "payments", "web", "queue"}

// skaffoldArtifacts reads skaffold.yaml and checks that it builds each service
// once, from the one Dockerfile with the service as a build argument. It
// returns artifact image -> service.
func skaffoldArtifacts(t *testing.T, root string) map[string]string {
	t.Helper()
	data := readFile(t, filepath.Join(root, "skaffold.yaml"))
	var cfg struct {
		Build struct {
			Artifacts []struct {
				Image   string `json:"image"`
				Context string `json:"context"`
				Docker  *struct {
					Dockerfile string            `json:"dockerfile"`
					BuildArgs  map[string]string `json:"buildArgs"`
				} `json:"docker"`
			} `json:"artifacts"`
		} `json:"build"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	artifacts := map[string]string{}
	for _, a := range cfg.Build.Artifacts {
		if a.Docker == nil || a.Docker.Dockerfile != "infra/docker/Dockerfile" || a.Context != "." {
			t.Errorf("skaffold.yaml artifact %s: want context . and docker.dockerfile infra/docker/Dockerfile", a.Image)
			continue
		}
		svc := a.Docker.BuildArgs["SERVICE"]
		if want := "ticketing-" + svc; a.Image != want {
			t.Errorf("skaffold.yaml artifact %s builds SERVICE=%q: want image %s", a.Image, svc, want)
		}
		if _, dup := artifacts[a.Image]; dup {
			t.Errorf("skaffold.yaml: artifact %s declared twice", a.Image)
		}
		artifacts[a.Image] = svc
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for _, s := range artifacts {
			if !yield(s) {
				return
			}
		}
	})
	if want := slices.Sorted(slices.Values(services)); !slices.Equal(got, want) {
		t.Fatalf("skaffold.yaml builds services %v, want %v", got, want)
	}
	return artifacts
}

func TestSkaffoldArtifacts(t *testing.T) {
	root := repoRoot(t)
	for _, svc := range skaffoldArtifacts(t, root) {
		if st, err := os.Stat(filepath.Join(root, "services", svc)); err != nil || !st.IsDir() {
			t.Errorf("service %s: no services/%s directory", svc, svc)
		}
	}
}

// dockerfile is the instructions of a Dockerfile, continuation lines joined,
// grouped by stage.
func dockerfileStages(t *testing.T, file string) [][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		instr := cur.String()
		cur.Reset()
		if strings.EqualFold(strings.Fields(instr)[0], "FROM") || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], instr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := dockerfileStages(t, filepath.Join(repoRoot(t), "infra", "docker", "Dockerfile"))
	// stages[0] holds the global ARGs before the first FROM.
	if len(stages) < 3 {
		t.Fatalf("want a multi-stage build (a build stage and a runtime stage), got %d stages", len(stages)-1)
	}
	var all []string
	for _, s := range stages {
		all = append(all, s...)
	}
	has := func(instrs []string, re string) bool {
		return slices.ContainsFunc(instrs, regexp.MustCompile(re).MatchString)
	}
	if !has(all, `^ARG SERVICE\b`) {
		t.Error("no ARG SERVICE: the service must be a build argument")
	}
	if !has(all, `CGO_ENABLED=0`) {
		t.Error("CGO_ENABLED=0 is not set: the binary must be static")
	}
	if !has(all, `go build .*\./services/\$\{?SERVICE\}?/cmd/\$\{?SERVICE\}?`) {
		t.Error("no go build of ./services/$SERVICE/cmd/$SERVICE")
	}
	final := stages[len(stages)-1]
	from := strings.Fields(final[0])
	base := from[len(from)-1]
	if i := slices.Index(from, "AS"); i > 0 {
		base = from[i-1]
	}
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("runtime base %s: want scratch or gcr.io/distroless/static (no shell)", base)
	}
	if has(final, `^RUN\b`) {
		t.Error("the runtime stage runs commands: it must have no shell")
	}
	user := regexp.MustCompile(`^USER (\d+)(:\d+)?$`)
	users := slices.DeleteFunc(slices.Clone(final), func(s string) bool { return !strings.HasPrefix(s, "USER ") })
	if len(users) == 0 || !user.MatchString(users[len(users)-1]) || user.FindStringSubmatch(users[len(users)-1])[1] == "0" {
		t.Errorf("runtime stage USER %v: want a numeric non-root uid, which runAsNonRoot can verify", users)
	}
	if !has(final, `^ENTRYPOINT \[`) {
		t.Error("runtime ENTRYPOINT must be in exec form (there is no shell)")
	}
}

// dockerignored reports whether .dockerignore's patterns leave rel out of the
// build context: the last pattern matching rel or one of its parents decides.
func dockerignored(patterns []string, rel string) bool {
	excluded := false
	parts := strings.Split(rel, "/")
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = strings.TrimSuffix(strings.TrimPrefix(p, "!"), "/")
		for i := 1; i <= len(parts); i++ {
			if globMatch(p, strings.Join(parts[:i], "/")) {
				excluded = !negate
				break
			}
		}
	}
	return excluded
}

// globMatch is path.Match with a leading "**/" matching any number of
// directories, as in .dockerignore.
func globMatch(pattern, name string) bool {
	if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
		parts := strings.Split(name, "/")
		for i := range parts {
			if globMatch(rest, strings.Join(parts[i:], "/")) {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

func readPatterns(t *testing.T, file string) []string {
	t.Helper()
	data := readFile(t, file)
	var out []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// workspaceModules lists the use directives of go.work.
func workspaceModules(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		t.Skip("no go.work yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	inUse := false
	for line := range strings.Lines(string(data)) {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inUse && f[0] == ")":
			inUse = false
		case inUse:
			dirs = append(dirs, f[0])
		case f[0] == "use" && len(f) > 1 && f[1] == "(":
			inUse = true
		case f[0] == "use" && len(f) > 1:
			dirs = append(dirs, f[1])
		}
	}
	return dirs
}

func TestDockerContextHasTheWorkspace(t *testing.T) {
	root := repoRoot(t)
	patterns := readPatterns(t, filepath.Join(root, ".dockerignore"))
	for _, must := range []string{"go.work", "common/go.mod", "services/auth/go.mod", "services/auth/cmd/auth/main.go"} {
		if dockerignored(patterns, must) {
			t.Errorf(".dockerignore leaves %s out of the image build", must)
		}
	}
	for _, leftOut := range []string{"infra/helm/ticketing/values.yaml", "infra/k8s/auth.yaml", "infra/devstack/main.go", "services/auth/cmd/auth/auth", "README.md", ".git/HEAD", "services/auth/internal/api/api_test.go"} {
		if !dockerignored(patterns, leftOut) {
			t.Errorf(".dockerignore sends %s to the image build", leftOut)
		}
	}
	// Every module of the workspace must be in the context, or go build with
	// go.work fails in the image.
	for _, dir := range workspaceModules(t, filepath.Join(root, "go.work")) {
		mod := path.Join(path.Clean(strings.TrimPrefix(dir, "./")), "go.mod")
		if dockerignored(patterns, mod) {
			t.Errorf("go.work uses %s, but .dockerignore leaves %s out of the image build", dir, mod)
		}
	}
}

// TestDevSecretsScript: scripts/dev-secrets.sh creates every user-provided
// Secret key that the skaffold dev manifests read.
func TestDevSecretsScript(t *testing.T) {
	root := repoRoot(t)
	script := readFile(t, filepath.Join(root, "scripts", "dev-secrets.sh"))
	created := map[string][]string{}
	var current string
	secret := regexp.MustCompile(`apply_secret ([a-z0-9-]+)`)
	key := regexp.MustCompile(`--from-(?:literal|file)=([A-Za-z0-9._-]+)=`)
	for line := range strings.Lines(string(script)) {
		if m := secret.FindStringSubmatch(line); m != nil && !strings.Contains(line, "()") {
			current = m[1]
		}
		for _, m := range key.FindAllStringSubmatch(line, -1) {
			created[current] = append(created[current], m[1])
		}
	}
	objs, err := decodeFile(filepath.Join(renderedDir(t), "skaffold-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		w := newIndex(t, []object{o}).workloads
		for _, wl := range w {
			for _, ctr := range wl.pod.Spec.Containers {
				for _, e := range ctr.Env {
					if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						continue
					}
					ref := e.ValueFrom.SecretKeyRef
					if !slices.Contains(created[ref.Name], ref.Key) {
						t.Errorf("%s env %s reads Secret %s key %s, which scripts/dev-secrets.sh does not create (it creates %v)",
							wl, e.Name, ref.Name, ref.Key, created)
					}
					if !slices.Contains(userSecrets[ref.Name], ref.Key) {
						t.Errorf("Secret %s key %s is not in the documented user-provided Secrets", ref.Name, ref.Key)
					}
				}
			}
		}
	}
}

// readFile is the content of the file at path; it fails t when it cannot be read.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
