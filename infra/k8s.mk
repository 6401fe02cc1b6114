# Kubernetes: images, `skaffold dev`, the production Helm chart, and their
# offline checks. Included by the Makefile; see README.md, "Kubernetes".
#
# The pinned helm and skaffold are built from infra/tools/ into
# $(XDG_CACHE_HOME)/ticketing-tools on first use (skaffold takes a few minutes).
K8S_TOOLS_BIN = $(shell bash scripts/check-k8s.sh --tools)
SKAFFOLD_FLAGS ?=

.PHONY: k8s-check k8s-tools k8s-secrets k8s-dev k8s-dev-helm

## k8s-check: helm lint/template, skaffold diagnose/render and the strict manifest checks, offline
k8s-check:
	bash scripts/check-k8s.sh

## k8s-tools: build the pinned helm and skaffold; prints the directory to put on PATH
k8s-tools:
	@bash scripts/check-k8s.sh --tools

## k8s-secrets: create the JWT key pair and Stripe Secrets in the current kubectl context
k8s-secrets:
	sh scripts/dev-secrets.sh

## k8s-dev: skaffold dev on the current kubectl context (needs Docker and ingress-nginx)
k8s-dev:
	PATH="$(K8S_TOOLS_BIN):$$PATH" skaffold dev --port-forward $(SKAFFOLD_FLAGS)

## k8s-dev-helm: the same through the production chart (skaffold dev -p helm)
k8s-dev-helm:
	PATH="$(K8S_TOOLS_BIN):$$PATH" skaffold dev -p helm --port-forward $(SKAFFOLD_FLAGS)
