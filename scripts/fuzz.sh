#!/usr/bin/env bash
# Runs every fuzz target of the workspace for FUZZTIME each (10s by default).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
count=0
for pkg in $(go list ticketing/...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    count=$((count + 1))
  done
done
echo "fuzzed $count targets"
[ "$count" -gt 0 ]
