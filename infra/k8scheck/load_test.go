// Package k8scheck checks the Kubernetes manifests that scripts/check-k8s.sh
// renders (skaffold render, helm template) without a cluster: every object is
// decoded strictly into the k8s.io/api types, as an API server with strict
// field validation would, then cross-checked for what a decode cannot see.
//
// Run through scripts/check-k8s.sh, which sets K8SCHECK_RENDERED to the
// directory of rendered files.
package k8scheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// scheme knows the kinds the manifests may use; any other kind (a typo in
// apiVersion, a CRD nobody installed) fails the decode.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme,
		rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict decodes YAML as the API server does with fieldValidation=Strict:
// unknown and duplicate fields are errors, and so are case mismatches.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// object is one decoded manifest and where it came from.
type object struct {
	source string // file:document
	obj    runtime.Object
	meta   metav1.Object
	kind   string
}

func (o object) String() string { return fmt.Sprintf("%s %s (%s)", o.kind, o.meta.GetName(), o.source) }

// decodeFile splits a multi-document YAML file and decodes every document
// strictly. Empty documents (helm's comments-only output) are skipped.
func decodeFile(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []object
	var errs []error
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if isBlank(doc) {
			continue
		}
		source := fmt.Sprintf("%s:%d", filepath.Base(path), i)
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		m, err := metaOf(obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		objs = append(objs, object{source: source, obj: obj, meta: m, kind: gvk.Kind})
	}
	return objs, errors.Join(errs...)
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	if m.GetName() == "" {
		return nil, errors.New("metadata.name is empty")
	}
	return m, nil
}

// isBlank reports whether a YAML document holds only comments and blank lines.
func isBlank(doc []byte) bool {
	for line := range bytes.SplitSeq(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

// renderedDir is where scripts/check-k8s.sh put the rendered manifests.
func renderedDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("K8SCHECK_RENDERED")
	if dir == "" {
		t.Fatal("K8SCHECK_RENDERED is not set: run scripts/check-k8s.sh, which renders the manifests first")
	}
	return dir
}

// repoRoot is the repository root, two levels above this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("K8SCHECK_REPO"); dir != "" {
		return dir
	}
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	// The checker itself: a field the API does not know must fail, as must a
	// kind it does not know; a correct manifest must pass.
	cases := map[string]struct {
		doc  string
		good bool
	}{
		"valid": {good: true, doc: `
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {ports: [{port: 80}]}`},
		"unknown field": {doc: `
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {ports: [{port: 80, targetport: 3000}]}`},
		"misplaced field": {doc: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: a}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: a, image: a}]
      readinessProbe: {httpGet: {path: /readyz, port: 3000}}`},
		"duplicate field": {doc: `
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {A: "1", A: "2"}`},
		"unknown kind": {doc: `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: a}`},
		"bad quantity": {doc: `
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: a, image: a, resources: {requests: {memory: 64MB}}}]`},
	}
	dir := t.TempDir()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "case.yaml")
			if err := os.WriteFile(path, []byte(c.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := decodeFile(path)
			if c.good && err != nil {
				t.Fatalf("valid manifest refused: %v", err)
			}
			if !c.good && err == nil {
				t.Fatal("invalid manifest accepted")
			}
		})
	}
}
