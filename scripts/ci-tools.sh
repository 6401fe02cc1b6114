#!/usr/bin/env bash
# Installs the pinned tools the tests call, into $(go env GOPATH)/bin.
set -euo pipefail
bin="$(go env GOPATH)/bin"
if ! "$bin/stripe-mock" -version 2>/dev/null | grep -q 0.203.0; then
  go install github.com/stripe/stripe-mock@v0.203.0
fi
