#!/usr/bin/env bash
# Fails when `go mod tidy` would change any module's go.mod or go.sum.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in $(go list -m -f '{{.Dir}}'); do
  cp "$dir/go.mod" /tmp/tidy-check.mod
  [ -f "$dir/go.sum" ] && cp "$dir/go.sum" /tmp/tidy-check.sum || : > /tmp/tidy-check.sum
  (cd "$dir" && go mod tidy)
  if ! cmp -s "$dir/go.mod" /tmp/tidy-check.mod || ! cmp -s "$dir/go.sum" /tmp/tidy-check.sum; then
    echo "go mod tidy changes ${dir#$PWD/}"
    status=1
    cp /tmp/tidy-check.mod "$dir/go.mod"
    cp /tmp/tidy-check.sum "$dir/go.sum"
    [ -s "$dir/go.sum" ] || rm -f "$dir/go.sum"
  fi
done
exit $status
