// Package monitoring checks the Helm chart's dashboards and alerts against the code, offline:
// the rules file (infra/helm/ticketing/rules) parses with Prometheus's own rule parser
// (promtool's), every PromQL expression of the rules and of the Grafana dashboards
// (infra/helm/ticketing/dashboards) parses, and every metric and label they name is one the
// services export (found in the Go sources of common/ and services/) or a documented external
// one (the NATS exporter's consumer lag).
//
// A module of its own, outside go.work: github.com/prometheus/prometheus must not enter the
// services' dependency graphs. Run it with
//
//	cd infra/monitoring && GOWORK=off go test ./...
package monitoring
