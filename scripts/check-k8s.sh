#!/usr/bin/env bash
# Offline checks of everything Kubernetes: the Helm chart, the skaffold config
# and the manifests both render, without a Docker engine or a cluster.
#
#   1. builds the pinned helm and skaffold from infra/tools/ (once: cached in
#      $TICKETING_TOOLS_DIR, default ${XDG_CACHE_HOME:-~/.cache}/ticketing-tools);
#   2. helm lint --strict and helm template with the default and the production
#      values, and checks that values.schema.json refuses what production must
#      not run (PAYMENT_PROVIDER=offline, ...);
#   3. skaffold diagnose --yaml-only and skaffold render --offline=true
#      --digest-source=none with a build artifacts file, for the dev manifests
#      and the helm profile;
#   4. infra/k8scheck's Go test over every rendered manifest: strict decode into
#      the k8s.io/api types, probes, resources, non-root, ingress routes, images
#      and Secret references;
#   5. envcheck: each rendered service environment goes through that service's
#      own LoadConfig, as at a pod's start.
#
# Rendered files go to $K8S_OUT (default: a temporary directory, removed on
# success).
#
#   scripts/check-k8s.sh           all of the above
#   scripts/check-k8s.sh --tools   only build the tools; print the directory
#                                  holding helm and skaffold (for PATH)
set -euo pipefail

case "${1:-}" in
  "" | --tools) ;;
  *) echo "usage: $0 [--tools]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)

tools_dir=${TICKETING_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ticketing-tools}
chart=infra/helm/ticketing
step() { printf '==> %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }
die() { printf 'check-k8s: %s\n' "$*" >&2; exit 1; }

# The tools modules are not in go.work, and the services' GOFLAGS must not
# leak into them.
export GOWORK=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

# tool NAME MODULE_DIR PACKAGE MODULE_PATH LDFLAGS: builds the pinned tool into
# the cache unless it is there, and echoes its path. The cache key is the
# version and a hash of the tools module, so a changed go.mod/go.sum rebuilds.
tool() {
  local name=$1 dir=$2 pkg=$3 mod=$4 ldflags=$5 version key bin
  version=$(awk -v m="$mod" '$1 == m { print $2; exit }' "$dir/go.mod")
  [ -n "$version" ] || die "$mod is not required by $dir/go.mod"
  key=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-12)
  bin="$tools_dir/$name-$version-$key"
  if [ ! -x "$bin" ]; then
    step "building $name $version (first run only; skaffold takes several minutes)" >&2
    mkdir -p "$tools_dir"
    (cd "$dir" && go build -trimpath -ldflags "-s -w ${ldflags//@VERSION@/$version}" -o "$bin.tmp.$$" "$pkg") >&2
    mv -f "$bin.tmp.$$" "$bin"
  fi
  # $tools_dir/bin always links the versions this checkout pins.
  mkdir -p "$tools_dir/bin"
  ln -sfn "$bin" "$tools_dir/bin/$name"
  echo "$bin"
}

helm_bin=$(tool helm infra/tools/helm helm.sh/helm/v3/cmd/helm helm.sh/helm/v3 \
  "-X helm.sh/helm/v3/internal/version.version=@VERSION@ -X helm.sh/helm/v3/internal/version.metadata= \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37")
skaffold_bin=$(tool skaffold infra/tools/skaffold github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold \
  github.com/GoogleContainerTools/skaffold/v2 \
  "-X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=@VERSION@")

if [ "${1:-}" = --tools ]; then
  echo "$tools_dir/bin"
  exit 0
fi

out=${K8S_OUT:-}
if [ -z "$out" ]; then
  out=$(mktemp -d)
  trap 'status=$?; if [ $status -eq 0 ]; then rm -rf "$out"; else echo "check-k8s: rendered files kept in $out" >&2; fi' EXIT
fi
mkdir -p "$out/bin" "$out/home/.skaffold" "$out/helm"
# skaffold runs "helm" from the PATH: the pinned one.
ln -sf "$helm_bin" "$out/bin/helm"
ln -sf "$skaffold_bin" "$out/bin/skaffold"
export PATH="$out/bin:$PATH"
# Keep helm's and skaffold's state out of the user's home, and skaffold quiet.
export HELM_CACHE_HOME="$out/helm/cache" HELM_CONFIG_HOME="$out/helm/config" HELM_DATA_HOME="$out/helm/data"
cat >"$out/home/.skaffold/config" <<'EOF'
global:
  collect-metrics: false
  update-check: false
  survey:
    disable-prompt: true
EOF
skaffold() { HOME="$out/home" SKAFFOLD_UPDATE_CHECK=false command skaffold --interactive=false "$@"; }

step "$(helm version --short), skaffold $(skaffold version)"

prod=(-f "$chart/values-production.yaml" -f "$chart/ci/production-site-values.yaml")

step "helm lint --strict (default values, production values)"
helm lint --strict "$chart"
helm lint --strict "$chart" "${prod[@]}"

step "helm template (default values, production values)"
helm template ticketing "$chart" --namespace ticketing >"$out/helm-default.yaml"
helm template ticketing "$chart" --namespace ticketing "${prod[@]}" >"$out/helm-production.yaml"

step "distributed engines: a NATS cluster by its seeds, Redis Sentinel (ci/cluster-site-values.yaml)"
cluster=(-f "$chart/values-production.yaml" -f "$chart/ci/cluster-site-values.yaml")
helm lint --strict "$chart" "${cluster[@]}"
helm template ticketing "$chart" --namespace ticketing "${cluster[@]}" >"$out/helm-cluster.yaml"
grep -qF 'value: "nats://nats-0.nats.nats.svc:4222,nats://nats-1.nats.nats.svc:4222,nats://nats-2.nats.nats.svc:4222"' \
  "$out/helm-cluster.yaml" || die "nats.urls did not become one NATS_URL seed list"
grep -qF 'name: REDIS_SENTINEL_ADDRS' "$out/helm-cluster.yaml" || die "redis.sentinel.addrs did not become REDIS_SENTINEL_ADDRS"
grep -qF 'name: REDIS_SENTINEL_PASSWORD' "$out/helm-cluster.yaml" || die "redis.sentinel.existingSecret did not become REDIS_SENTINEL_PASSWORD"
! grep -qF 'name: REDIS_ADDR' "$out/helm-cluster.yaml" || die "REDIS_ADDR set next to Sentinel"
grep -qF 'port: 26379' "$out/helm-cluster.yaml" || die "no NetworkPolicy egress to the Sentinels' port"

step "monitoring: dashboards, alerts and ServiceMonitor render; rules and dashboard checked"
helm lint --strict "$chart" -f "$chart/ci/monitoring-values.yaml"
# Rendered apart: the strict decode below knows only the core kinds.
helm template ticketing "$chart" -f "$chart/ci/monitoring-values.yaml" >/dev/null
(cd "$root/infra/monitoring" && GOWORK=off GOFLAGS=-mod=readonly go test -count=1 ./...)

# must_refuse WANT ARGS...: helm template must fail, saying WANT.
must_refuse() {
  local want=$1 err
  shift
  if err=$(helm template ticketing "$chart" "$@" 2>&1 >/dev/null); then
    die "helm template $* was accepted; want it refused ($want)"
  fi
  grep -qF -- "$want" <<<"$err" || die "helm template $* failed without mentioning '$want':
$err"
  echo "refused as expected: ${*: -2}"
}
step "the production values refuse what production must not run"
must_refuse "/payments/env/PAYMENT_PROVIDER" "${prod[@]}" --set payments.env.PAYMENT_PROVIDER=offline
must_refuse "/payments/env" "${prod[@]}" --set payments.env.STRIPE_API_BASE=http://stripe-mock:12111
must_refuse "/auth/env/COOKIE_SECURE" "${prod[@]}" --set auth.env.COOKIE_SECURE=false
must_refuse "/global/image/registry" "${prod[@]}" --set global.image.registry=
must_refuse "/payments/extraEnv/0/name" "${prod[@]}" --set 'payments.extraEnv[0].name=PAYMENT_PROVIDER' --set 'payments.extraEnv[0].value=offline'
must_refuse "/auth/extraEnv/0/name" "${prod[@]}" --set 'auth.extraEnv[0].name=COOKIE_SECURE' --set 'auth.extraEnv[0].value=false'
must_refuse "invalid propertyName 'MONGODB_URI'" --set auth.env.MONGODB_URI=mongodb://elsewhere
must_refuse "nats.url or nats.existingSecret is required" -f "$chart/values-production.yaml" --set global.image.registry=r.example
must_refuse "/nats/streamReplicas" --set nats.streamReplicas=3
must_refuse "terminationGracePeriodSeconds must exceed" --set global.terminationGracePeriodSeconds=20

step "skaffold diagnose --yaml-only (default, -p helm)"
skaffold diagnose --yaml-only >"$out/skaffold-diagnose.yaml"
skaffold diagnose --yaml-only -p helm >"$out/skaffold-diagnose-helm.yaml"

step "skaffold render --offline=true --digest-source=none (default, -p helm)"
# What `skaffold build --file-output` would write: one image per artifact.
images=$(awk '$1 == "-" && $2 == "image:" { print $3 }' skaffold.yaml)
[ -n "$images" ] || die "no artifacts found in skaffold.yaml"
{
  printf '{"builds": ['
  sep=
  for image in $images; do
    printf '%s\n  {"imageName": "%s", "tag": "%s:ci-check"}' "$sep" "$image" "$image"
    sep=,
  done
  printf '\n]}\n'
} >"$out/artifacts.json"
skaffold render --offline=true --digest-source=none -a "$out/artifacts.json" -o "$out/skaffold-dev.yaml"
skaffold render --offline=true --digest-source=none -a "$out/artifacts.json" -o "$out/skaffold-helm.yaml" -p helm

step "strict decode and cross-checks of the rendered manifests (infra/k8scheck)"
(cd infra/k8scheck && go vet ./... && K8SCHECK_RENDERED="$out" K8SCHECK_REPO="$root" go test -count=1 ./...)

# The services' own configuration loaders over the environments the test wrote:
# a temporary workspace of the repository's modules plus envcheck, so that the
# k8scheck module never depends on the services.
if [ -f go.work ]; then
  step "every rendered service environment loads with the service's LoadConfig (envcheck)"
  mkdir -p "$out/envcheck"
  cp infra/k8scheck/envcheck/main.go "$out/envcheck/main.go"
  printf 'module envcheck\n\ngo 1.26.0\n' >"$out/envcheck/go.mod"
  [ -f go.work.sum ] && cp go.work.sum "$out/envcheck/go.work.sum"
  sed -n 's/^go \(1\.[0-9.]*\)$/go \1/p' go.work | head -1 >"$out/envcheck/go.work"
  echo 'use .' >>"$out/envcheck/go.work"
  GOWORK="$root/go.work" go work edit -json | sed -n 's/^[[:space:]]*"DiskPath": "\(.*\)",\{0,1\}$/\1/p' |
    while read -r dir; do echo "use $root/${dir#./}"; done >>"$out/envcheck/go.work"
  (cd "$out/envcheck" && GOWORK="$out/envcheck/go.work" GOFLAGS= go run main.go "$out/envs.json")
else
  echo "no go.work: envcheck skipped"
fi

step "kubernetes checks passed"
