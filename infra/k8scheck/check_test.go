package k8scheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// bundle is one rendered configuration: what scripts/check-k8s.sh writes to
// K8SCHECK_RENDERED, and what is expected of it.
type bundle struct {
	file       string
	skaffold   bool // rendered by skaffold with the artifacts file: images are its tags
	chart      bool // rendered from infra/helm/ticketing
	production bool // with values-production.yaml
}

var bundles = []bundle{
	{file: "skaffold-dev.yaml", skaffold: true},
	{file: "skaffold-helm.yaml", skaffold: true, chart: true},
	{file: "helm-default.yaml", chart: true},
	{file: "helm-production.yaml", chart: true, production: true},
	{file: "helm-cluster.yaml", chart: true, production: true}, // ci/cluster-site-values.yaml: a NATS cluster, Sentinel
}

// apiRoutes are the public prefixes of docs/API.md and the image serving each; "/" (every
// other path) is the storefront's.
var apiRoutes = map[string]string{
	"/api/users":    "ticketing-auth",
	"/api/tickets":  "ticketing-tickets",
	"/api/orders":   "ticketing-orders",
	"/api/payments": "ticketing-payments",
	"/api/events":   "ticketing-tickets",
	"/api/queue":    "ticketing-queue",
	"/":             "ticketing-web",
}

// frontends are the images of services that own no data and use no bus: no
// STREAM_REPLICAS to check.
var frontends = []string{"ticketing-web"}

// thirdPartyImages are the bundled infrastructure's images (repository only).
var thirdPartyImages = []string{"mongo", "nats", "redis"}

// userSecrets are the Secrets an operator creates before deploying, and their
// keys: README.md, "What you provide"; on a dev cluster scripts/dev-secrets.sh
// creates ticketing-jwt, ticketing-stripe and ticketing-razorpay. A secretKeyRef must name one of
// these keys or a key of a Secret in the same rendering.
var userSecrets = map[string][]string{
	"ticketing-jwt":      {"private.pem", "public.pem"},
	"ticketing-queue":    {"private.pem", "public.pem"},
	"ticketing-stripe":   {"secret-key", "webhook-secret", "provider", "publishable-key"},
	"ticketing-razorpay": {"key-id", "key-secret", "webhook-secret"},
	"ticketing-mongodb":  {"uri"},
	"ticketing-redis":    {"password", "sentinel-password"},
}

// workload is a pod template with what owns it.
type workload struct {
	object
	pod      *corev1.PodTemplateSpec
	replicas *int32 // nil: not set (or not a Deployment/StatefulSet)
}

// index is one bundle's objects by kind and name.
type index struct {
	objects     []object
	workloads   []workload
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	configMaps  map[string]*corev1.ConfigMap
	deployments map[string]*appsv1.Deployment
	ingresses   []*networkingv1.Ingress
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	netpols     []*networkingv1.NetworkPolicy
}

func newIndex(t *testing.T, objs []object) *index {
	t.Helper()
	ix := &index{
		objects:     objs,
		services:    map[string]*corev1.Service{},
		secrets:     map[string]*corev1.Secret{},
		configMaps:  map[string]*corev1.ConfigMap{},
		deployments: map[string]*appsv1.Deployment{},
	}
	seen := map[string]string{}
	for _, o := range objs {
		key := o.kind + "/" + o.meta.GetNamespace() + "/" + o.meta.GetName()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: declared twice (also %s)", o, prev)
		}
		seen[key] = o.source
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			ix.deployments[v.Name] = v
			ix.workloads = append(ix.workloads, workload{o, &v.Spec.Template, v.Spec.Replicas})
		case *appsv1.StatefulSet:
			ix.workloads = append(ix.workloads, workload{o, &v.Spec.Template, v.Spec.Replicas})
		case *appsv1.DaemonSet:
			ix.workloads = append(ix.workloads, workload{o, &v.Spec.Template, nil})
		case *batchv1.Job:
			ix.workloads = append(ix.workloads, workload{o, &v.Spec.Template, nil})
		case *batchv1.CronJob:
			ix.workloads = append(ix.workloads, workload{o, &v.Spec.JobTemplate.Spec.Template, nil})
		case *corev1.Pod:
			ix.workloads = append(ix.workloads, workload{o, &corev1.PodTemplateSpec{ObjectMeta: v.ObjectMeta, Spec: v.Spec}, nil})
		case *corev1.Service:
			ix.services[v.Name] = v
		case *corev1.Secret:
			ix.secrets[v.Name] = v
		case *corev1.ConfigMap:
			ix.configMaps[v.Name] = v
		case *networkingv1.Ingress:
			ix.ingresses = append(ix.ingresses, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			ix.hpas = append(ix.hpas, v)
		case *policyv1.PodDisruptionBudget:
			ix.pdbs = append(ix.pdbs, v)
		case *networkingv1.NetworkPolicy:
			ix.netpols = append(ix.netpols, v)
		}
	}
	return ix
}

// selected returns the workloads whose pods a label selector matches.
func (ix *index) selected(sel labels.Selector) []workload {
	var out []workload
	for _, w := range ix.workloads {
		if sel.Matches(labels.Set(w.pod.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

func (ix *index) selectedBy(t *testing.T, what string, ls *metav1.LabelSelector) []workload {
	t.Helper()
	if ls == nil {
		t.Errorf("%s: no selector", what)
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Errorf("%s: selector: %v", what, err)
		return nil
	}
	if sel.Empty() {
		t.Errorf("%s: empty selector matches every pod", what)
	}
	return ix.selected(sel)
}

// imageRef splits an image reference into repository, tag and digest.
func imageRef(image string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// artifactOf names the Skaffold artifact an image is built from, or "".
func artifactOf(image string, artifacts []string) string {
	repo, _, _ := imageRef(image)
	last := repo[strings.LastIndex(repo, "/")+1:]
	if slices.Contains(artifacts, last) {
		return last
	}
	return ""
}

// artifactTags reads the build artifacts file given to skaffold render.
func artifactTags(t *testing.T, dir string) map[string]string {
	t.Helper()
	data := readFile(t, filepath.Join(dir, "artifacts.json"))
	var f struct {
		Builds []struct {
			ImageName string `json:"imageName"`
			Tag       string `json:"tag"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("artifacts.json: %v", err)
	}
	tags := map[string]string{}
	for _, b := range f.Builds {
		tags[b.ImageName] = b.Tag
	}
	return tags
}

func TestRendered(t *testing.T) {
	dir := renderedDir(t)
	artifacts := skaffoldArtifacts(t, repoRoot(t))
	tags := artifactTags(t, dir)
	if got, want := slices.Sorted(maps.Keys(tags)), slices.Sorted(maps.Keys(artifacts)); !slices.Equal(got, want) {
		t.Fatalf("artifacts.json builds %v, skaffold.yaml has artifacts %v", got, want)
	}
	names := slices.Sorted(maps.Keys(artifacts))
	// The environment of every service container, for envcheck (see envcheck/main.go).
	envs := map[string]map[string]string{}
	defer func() {
		data, err := json.MarshalIndent(envs, "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "envs.json"), data, 0o600)
		}
		if err != nil {
			t.Error(err)
		}
	}()
	for _, b := range bundles {
		t.Run(strings.TrimSuffix(b.file, ".yaml"), func(t *testing.T) {
			objs, err := decodeFile(filepath.Join(dir, b.file))
			if err != nil {
				t.Fatalf("strict decode:\n%v", err)
			}
			if len(objs) == 0 {
				t.Fatal("no objects rendered")
			}
			ix := newIndex(t, objs)
			c := checker{t: t, b: b, ix: ix, artifacts: names, tags: tags}
			c.workloads()
			c.services()
			c.ingress()
			c.secretRefs()
			c.scaling()
			if b.chart {
				c.networkPolicies()
			}
			if b.production {
				c.production()
			}
			for _, w := range ix.workloads {
				for _, ctr := range w.pod.Spec.Containers {
					if a := artifactOf(ctr.Image, names); a != "" {
						envs[strings.TrimSuffix(b.file, ".yaml")+"/"+artifacts[a]] = c.environment(ctr)
					}
				}
			}
		})
	}
}

type checker struct {
	t         *testing.T
	b         bundle
	ix        *index
	artifacts []string          // Skaffold artifact image names
	tags      map[string]string // artifact -> tag in artifacts.json
}

func (c checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(format, args...)
}

// workloads: every container has probes, resources, a hardened security
// context and an image that is a Skaffold artifact (or pinned bundled
// infrastructure); each artifact runs in exactly one Deployment.
func (c checker) workloads() {
	deployed := map[string]int{}
	for _, w := range c.ix.workloads {
		spec := &w.pod.Spec
		if len(spec.Containers) == 0 {
			c.errorf("%s: no containers", w)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			c.errorf("%s: automountServiceAccountToken must be false (no service talks to the Kubernetes API)", w)
		}
		for _, ctr := range spec.InitContainers {
			c.securityContext(w, ctr)
			c.resources(w, ctr)
		}
		for _, ctr := range spec.Containers {
			what := fmt.Sprintf("%s container %s", w, ctr.Name)
			c.securityContext(w, ctr)
			c.resources(w, ctr)
			if ctr.ReadinessProbe == nil {
				c.errorf("%s: no readinessProbe", what)
			}
			if ctr.LivenessProbe == nil {
				c.errorf("%s: no livenessProbe", what)
			}
			for _, p := range []*corev1.Probe{ctr.StartupProbe, ctr.ReadinessProbe, ctr.LivenessProbe} {
				if p != nil && p.HTTPGet != nil && !hasPort(ctr, p.HTTPGet.Port) {
					c.errorf("%s: probe on port %s, which the container does not declare", what, p.HTTPGet.Port.String())
				}
			}
			names := map[string]bool{}
			for _, e := range ctr.Env {
				if names[e.Name] {
					c.errorf("%s: env %s set twice", what, e.Name)
				}
				names[e.Name] = true
			}
			if a := artifactOf(ctr.Image, c.artifacts); a != "" {
				deployed[a]++
				c.serviceContainer(w, ctr, a)
			} else {
				c.thirdParty(what, ctr.Image)
			}
		}
	}
	for _, a := range c.artifacts {
		if deployed[a] != 1 {
			c.errorf("artifact %s runs in %d containers, want exactly 1 Deployment", a, deployed[a])
		}
	}
}

func (c checker) securityContext(w workload, ctr corev1.Container) {
	what := fmt.Sprintf("%s container %s", w, ctr.Name)
	pod := w.pod.Spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	sc := ctr.SecurityContext
	if sc == nil {
		c.errorf("%s: no securityContext", what)
		sc = &corev1.SecurityContext{}
	}
	nonRoot := pod.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		c.errorf("%s: runAsNonRoot is not true", what)
	}
	user := pod.RunAsUser
	if sc.RunAsUser != nil {
		user = sc.RunAsUser
	}
	if user != nil && *user == 0 {
		c.errorf("%s: runAsUser 0", what)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		c.errorf("%s: allowPrivilegeEscalation is not false", what)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		c.errorf("%s: readOnlyRootFilesystem is not true", what)
	}
	if sc.Privileged != nil && *sc.Privileged {
		c.errorf("%s: privileged", what)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		c.errorf("%s: capabilities must drop ALL and add none", what)
	}
	seccomp := pod.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		c.errorf("%s: seccompProfile is not RuntimeDefault", what)
	}
}

func (c checker) resources(w workload, ctr corev1.Container) {
	what := fmt.Sprintf("%s container %s", w, ctr.Name)
	r := ctr.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := r.Requests[name]; !ok || q.IsZero() {
			c.errorf("%s: no %s request", what, name)
		}
	}
	if q, ok := r.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		c.errorf("%s: no memory limit", what)
	} else if req := r.Requests[corev1.ResourceMemory]; q.Cmp(req) < 0 {
		c.errorf("%s: memory limit %s below request %s", what, q.String(), req.String())
	}
}

// serviceContainer: one of the five services, built from a Skaffold artifact.
func (c checker) serviceContainer(w workload, ctr corev1.Container, artifact string) {
	what := fmt.Sprintf("%s container %s", w, ctr.Name)
	if _, ok := w.obj.(*appsv1.Deployment); !ok {
		c.errorf("%s: a service must run as a Deployment", what)
	}
	_, tag, digest := imageRef(ctr.Image)
	if c.b.skaffold {
		if ctr.Image != c.tags[artifact] {
			c.errorf("%s: image %q, want the artifacts file's %q", what, ctr.Image, c.tags[artifact])
		}
	} else if (tag == "" || tag == "latest") && digest == "" {
		c.errorf("%s: image %q has no pinned tag or digest", what, ctr.Image)
	}
	if p := portNamed(ctr, "http"); p == nil || p.ContainerPort != 3000 {
		c.errorf("%s: want port http = 3000 (HTTP_ADDR)", what)
	}
	if p := portNamed(ctr, "metrics"); p == nil || p.ContainerPort != 9090 {
		c.errorf("%s: want port metrics = 9090 (METRICS_ADDR)", what)
	}
	probePath := func(p *corev1.Probe, name, want string) {
		if p == nil {
			return
		}
		if p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
			c.errorf("%s: %s must be GET %s on port http", what, name, want)
		}
	}
	// Kubernetes' three probes, each for its own question: started (a service waits for NATS
	// and its database at start, so the start-up probe allows minutes), alive (the process
	// answers; a dependency's outage must not restart it) and ready (it can serve: only its
	// database decides, NATS and Redis outages degrade it and stay ready).
	if ctr.StartupProbe == nil {
		c.errorf("%s: no startupProbe", what)
	} else if p := ctr.StartupProbe; time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second < 2*time.Minute {
		c.errorf("%s: startupProbe allows %ds, want 2 minutes at least (a service waits for NATS)", what, p.PeriodSeconds*p.FailureThreshold)
	}
	probePath(ctr.StartupProbe, "startupProbe", "/livez")
	probePath(ctr.ReadinessProbe, "readinessProbe", "/readyz")
	probePath(ctr.LivenessProbe, "livenessProbe", "/livez")

	// The pod must outlive the service's own shutdown: preStop + SHUTDOWN_TIMEOUT
	// < terminationGracePeriodSeconds.
	shutdown := 20 * time.Second
	if v, ok := c.env(w, ctr, "SHUTDOWN_TIMEOUT"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.errorf("%s: SHUTDOWN_TIMEOUT %q: %v", what, v, err)
		}
		shutdown = d
	}
	var preStop time.Duration
	if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil && ctr.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := 30 * time.Second
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= shutdown+preStop {
		c.errorf("%s: terminationGracePeriodSeconds %s must exceed preStop %s + SHUTDOWN_TIMEOUT %s", what, grace, preStop, shutdown)
	}
	if v, ok := c.env(w, ctr, "PAYMENT_PROVIDER"); ok && c.b.production && v != "stripe" {
		c.errorf("%s: PAYMENT_PROVIDER %q in production", what, v)
	}
}

func (c checker) thirdParty(what, image string) {
	repo, tag, digest := imageRef(image)
	if !slices.Contains(thirdPartyImages, repo) {
		c.errorf("%s: image %q is neither a Skaffold artifact %v nor bundled infrastructure %v", what, image, c.artifacts, thirdPartyImages)
		return
	}
	if (tag == "" || tag == "latest") && digest == "" {
		c.errorf("%s: image %q is not pinned to a version", what, image)
	}
	if c.b.production {
		c.errorf("%s: bundled infrastructure %q in the production rendering", what, image)
	}
}

// env resolves a variable from env (literal value, ConfigMap or Secret
// reference) or envFrom; ok is false when unset. Secret values are not read.
func (c checker) env(w workload, ctr corev1.Container, name string) (string, bool) {
	for _, e := range slices.Backward(ctr.Env) {
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil {
			return e.Value, true
		}
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
			if cm := c.ix.configMaps[ref.Name]; cm != nil {
				v, ok := cm.Data[ref.Key]
				return v, ok
			}
		}
		return "", false
	}
	for _, from := range slices.Backward(ctr.EnvFrom) {
		if from.ConfigMapRef != nil {
			if cm := c.ix.configMaps[from.ConfigMapRef.Name]; cm != nil {
				if v, ok := cm.Data[strings.TrimPrefix(name, from.Prefix)]; ok && strings.HasPrefix(name, from.Prefix) {
					return v, true
				}
			}
		}
	}
	return "", false
}

// environment is what the container's process would see: literal values,
// ConfigMap keys and rendered Secrets resolved; a user-provided Secret key as
// "secret:NAME/KEY", for envcheck to fill in.
func (c checker) environment(ctr corev1.Container) map[string]string {
	env := map[string]string{}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef != nil && c.ix.configMaps[from.ConfigMapRef.Name] != nil {
			for k, v := range c.ix.configMaps[from.ConfigMapRef.Name].Data {
				env[from.Prefix+k] = v
			}
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			if cm := c.ix.configMaps[ref.Name]; cm != nil {
				env[e.Name] = cm.Data[ref.Key]
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if s := c.ix.secrets[ref.Name]; s != nil {
				if v, ok := s.StringData[ref.Key]; ok {
					env[e.Name] = v
				} else {
					env[e.Name] = string(s.Data[ref.Key])
				}
			} else {
				env[e.Name] = "secret:" + ref.Name + "/" + ref.Key
			}
		default:
			env[e.Name] = "fieldref"
		}
	}
	return env
}

func portNamed(ctr corev1.Container, name string) *corev1.ContainerPort {
	for i := range ctr.Ports {
		if ctr.Ports[i].Name == name {
			return &ctr.Ports[i]
		}
	}
	return nil
}

func hasPort(ctr corev1.Container, port intstr.IntOrString) bool {
	for _, p := range ctr.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

// services: each Service selects pods, and each of its ports lands on a port
// those pods' containers declare.
func (c checker) services() {
	for name, svc := range c.ix.services {
		what := "Service " + name
		if len(svc.Spec.Selector) == 0 {
			c.errorf("%s: no selector", what)
			continue
		}
		pods := c.ix.selected(labels.SelectorFromSet(svc.Spec.Selector))
		if len(pods) == 0 {
			c.errorf("%s: selects no pods", what)
			continue
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			for _, w := range pods {
				if !slices.ContainsFunc(w.pod.Spec.Containers, func(ctr corev1.Container) bool { return hasPort(ctr, target) }) {
					c.errorf("%s port %s: targetPort %s is not a container port of %s", what, p.Name, target.String(), w)
				}
			}
		}
	}
}

// ingress: ingress-nginx, exactly the four docs/API.md prefixes and the
// storefront's "/", each on the Service of the right service and a port that
// Service has.
func (c checker) ingress() {
	routed := map[string]int{}
	for _, ing := range c.ix.ingresses {
		what := "Ingress " + ing.Name
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			c.errorf("%s: ingressClassName must be nginx", what)
		}
		if ing.Spec.DefaultBackend != nil {
			c.errorf("%s: a default backend would expose more than the API", what)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				c.errorf("%s: rule without http paths", what)
				continue
			}
			for _, p := range rule.HTTP.Paths {
				pw := fmt.Sprintf("%s path %s", what, p.Path)
				want, ok := apiRoutes[p.Path]
				if !ok {
					c.errorf("%s: not one of the API prefixes %v", pw, slices.Sorted(maps.Keys(apiRoutes)))
					continue
				}
				routed[p.Path]++
				if p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix {
					c.errorf("%s: pathType must be Prefix", pw)
				}
				c.backend(pw, p.Backend, want)
			}
		}
	}
	for prefix := range apiRoutes {
		if routed[prefix] != 1 {
			c.errorf("API prefix %s is routed %d times, want once", prefix, routed[prefix])
		}
	}
}

func (c checker) backend(what string, b networkingv1.IngressBackend, artifact string) {
	if b.Service == nil {
		c.errorf("%s: backend is not a Service", what)
		return
	}
	svc := c.ix.services[b.Service.Name]
	if svc == nil {
		c.errorf("%s: Service %s is not rendered", what, b.Service.Name)
		return
	}
	var port *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if (b.Service.Port.Name != "" && p.Name == b.Service.Port.Name) || (b.Service.Port.Number != 0 && p.Port == b.Service.Port.Number) {
			port = &svc.Spec.Ports[i]
		}
	}
	if port == nil {
		c.errorf("%s: Service %s has no port %q/%d", what, svc.Name, b.Service.Port.Name, b.Service.Port.Number)
		return
	}
	pods := c.ix.selected(labels.SelectorFromSet(svc.Spec.Selector))
	if len(pods) == 0 {
		c.errorf("%s: Service %s selects no pods", what, svc.Name)
	}
	for _, w := range pods {
		for _, ctr := range w.pod.Spec.Containers {
			if artifactOf(ctr.Image, c.artifacts) != artifact {
				c.errorf("%s: Service %s reaches %s (image %s), want %s", what, svc.Name, w, ctr.Image, artifact)
				continue
			}
			if hp := portNamed(ctr, "http"); hp == nil || !hasPort(corev1.Container{Ports: []corev1.ContainerPort{*hp}}, port.TargetPort) {
				c.errorf("%s: Service %s port %s does not land on the container's http port", what, svc.Name, port.Name)
			}
		}
	}
}

// secretRefs: every referenced Secret key is rendered alongside, or is one of
// the documented user-provided Secrets; every ConfigMap reference resolves.
func (c checker) secretRefs() {
	for _, w := range c.ix.workloads {
		for _, ctr := range slices.Concat(w.pod.Spec.InitContainers, w.pod.Spec.Containers) {
			what := fmt.Sprintf("%s container %s", w, ctr.Name)
			for _, e := range ctr.Env {
				if e.ValueFrom == nil {
					continue
				}
				if ref := e.ValueFrom.SecretKeyRef; ref != nil {
					c.secretKey(fmt.Sprintf("%s env %s", what, e.Name), ref.Name, ref.Key)
				}
				if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
					if cm := c.ix.configMaps[ref.Name]; cm == nil {
						c.errorf("%s env %s: ConfigMap %s is not rendered", what, e.Name, ref.Name)
					} else if _, ok := cm.Data[ref.Key]; !ok {
						c.errorf("%s env %s: ConfigMap %s has no key %s", what, e.Name, ref.Name, ref.Key)
					}
				}
			}
			for _, from := range ctr.EnvFrom {
				if from.ConfigMapRef != nil && c.ix.configMaps[from.ConfigMapRef.Name] == nil {
					c.errorf("%s: envFrom ConfigMap %s is not rendered", what, from.ConfigMapRef.Name)
				}
				if from.SecretRef != nil {
					if _, user := userSecrets[from.SecretRef.Name]; !user && c.ix.secrets[from.SecretRef.Name] == nil {
						c.errorf("%s: envFrom Secret %s is neither rendered nor user-provided", what, from.SecretRef.Name)
					}
				}
			}
		}
		for _, v := range w.pod.Spec.Volumes {
			if v.Secret != nil {
				for _, item := range v.Secret.Items {
					c.secretKey(fmt.Sprintf("%s volume %s", w, v.Name), v.Secret.SecretName, item.Key)
				}
			}
		}
	}
}

func (c checker) secretKey(what, name, key string) {
	if s := c.ix.secrets[name]; s != nil {
		_, inData := s.Data[key]
		_, inString := s.StringData[key]
		if !inData && !inString {
			c.errorf("%s: rendered Secret %s has no key %s", what, name, key)
		}
		return
	}
	keys, user := userSecrets[name]
	if !user {
		c.errorf("%s: Secret %s is neither rendered nor a documented user-provided Secret", what, name)
		return
	}
	if !slices.Contains(keys, key) {
		c.errorf("%s: user-provided Secret %s documents keys %v, not %s", what, name, keys, key)
	}
}

// scaling: HPAs target rendered Deployments that leave replicas to them; PDBs
// select pods; a chart rendering protects every service with a PDB.
func (c checker) scaling() {
	autoscaled := map[string]bool{}
	for _, h := range c.ix.hpas {
		what := "HorizontalPodAutoscaler " + h.Name
		ref := h.Spec.ScaleTargetRef
		d := c.ix.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || d == nil {
			c.errorf("%s: target %s/%s %s is not a rendered Deployment", what, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		autoscaled[d.Name] = true
		if d.Spec.Replicas != nil {
			c.errorf("%s: Deployment %s sets replicas, which every upgrade would reset", what, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			c.errorf("%s: minReplicas must be set and at most maxReplicas", what)
		}
		if c.b.production && (h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2) {
			c.errorf("%s: fewer than 2 replicas in production", what)
		}
	}
	protected := map[string]bool{}
	for _, p := range c.ix.pdbs {
		pods := c.ix.selectedBy(c.t, "PodDisruptionBudget "+p.Name, p.Spec.Selector)
		if len(pods) == 0 {
			c.errorf("PodDisruptionBudget %s selects no pods", p.Name)
		}
		for _, w := range pods {
			protected[w.meta.GetName()] = true
		}
	}
	for _, w := range c.ix.workloads {
		if !c.isService(w) {
			continue
		}
		if c.b.chart && !protected[w.meta.GetName()] {
			c.errorf("%s: no PodDisruptionBudget", w)
		}
		if c.b.production && !autoscaled[w.meta.GetName()] && (w.replicas == nil || *w.replicas < 2) {
			c.errorf("%s: fewer than 2 replicas in production", w)
		}
	}
}

func (c checker) isService(w workload) bool {
	return slices.ContainsFunc(w.pod.Spec.Containers, func(ctr corev1.Container) bool {
		return artifactOf(ctr.Image, c.artifacts) != ""
	})
}

// networkPolicies: each service is isolated both ways; its HTTP port is open
// only to named peers and only for the routed services; every egress rule is
// limited to ports.
func (c checker) networkPolicies() {
	type isolation struct{ ingress, egress, http bool }
	iso := map[string]*isolation{}
	for _, np := range c.ix.netpols {
		what := "NetworkPolicy " + np.Name
		pods := c.ix.selectedBy(c.t, what, &np.Spec.PodSelector)
		if len(pods) == 0 {
			c.errorf("%s: selects no pods", what)
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				c.errorf("%s: an ingress rule without peers admits every client", what)
			}
		}
		for _, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				c.errorf("%s: an egress rule without ports", what)
			}
		}
		for _, w := range pods {
			i := iso[w.meta.GetName()]
			if i == nil {
				i = &isolation{}
				iso[w.meta.GetName()] = i
			}
			for _, t := range np.Spec.PolicyTypes {
				i.ingress = i.ingress || t == networkingv1.PolicyTypeIngress
				i.egress = i.egress || t == networkingv1.PolicyTypeEgress
			}
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					if p.Port != nil && (p.Port.String() == "http" || p.Port.IntValue() == 3000) {
						i.http = true
					}
				}
			}
		}
	}
	routed := slices.Collect(maps.Values(apiRoutes))
	for _, w := range c.ix.workloads {
		if !c.isService(w) {
			continue
		}
		i := iso[w.meta.GetName()]
		if i == nil || !i.ingress || !i.egress {
			c.errorf("%s: not isolated for both ingress and egress by a NetworkPolicy", w)
			continue
		}
		artifact := artifactOf(w.pod.Spec.Containers[0].Image, c.artifacts)
		if isRouted := slices.Contains(routed, artifact); i.http != isRouted {
			c.errorf("%s: HTTP port open to peers = %v, routed by the ingress = %v: want both or neither", w, i.http, isRouted)
		}
	}
}

// production: what values-production.yaml promises.
func (c checker) production() {
	for _, w := range c.ix.workloads {
		for _, ctr := range w.pod.Spec.Containers {
			what := fmt.Sprintf("%s container %s", w, ctr.Name)
			switch artifactOf(ctr.Image, c.artifacts) {
			case "ticketing-auth":
				if v, _ := c.env(w, ctr, "COOKIE_SECURE"); v != "true" {
					c.errorf("%s: COOKIE_SECURE %q in production", what, v)
				}
			case "ticketing-payments":
				if v, ok := c.env(w, ctr, "PAYMENT_PROVIDER"); ok && v != "stripe" {
					c.errorf("%s: PAYMENT_PROVIDER %q in production", what, v)
				}
				if _, ok := c.env(w, ctr, "STRIPE_API_BASE"); ok {
					c.errorf("%s: STRIPE_API_BASE overridden in production", what)
				}
			}
			if a := artifactOf(ctr.Image, c.artifacts); a != "" && !slices.Contains(frontends, a) {
				if v, _ := c.env(w, ctr, "STREAM_REPLICAS"); v == "" || mustAtoi(v) < 3 {
					c.errorf("%s: STREAM_REPLICAS %q, want 3 or more in production", what, v)
				}
			}
		}
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// Package k8scheck checks the Kubernetes manifests that scripts/check-k8s.sh
// renders (skaffold render, helm template) without a cluster: every object is
// decoded strictly into the k8s.io/api types, as an API server with strict
// field validation would, then cross-checked for what a decode cannot see.
//
// Run through scripts/check-k8s.sh, which sets K8SCHECK_RENDERED to the
// directory of rendered files.

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
