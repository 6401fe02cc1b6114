#!/usr/bin/env bash
# Fails when `go mod tidy` would change any module's go.mod or go.sum; leaves them as they were.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(mktemp) sum=$(mktemp)
trap 'rm -f "$mod" "$sum"' EXIT
status=0
for dir in $(go list -m -f '{{.Dir}}'); do
  cp "$dir/go.mod" "$mod"
  had_sum=false
  if [ -f "$dir/go.sum" ]; then cp "$dir/go.sum" "$sum"; had_sum=true; else : > "$sum"; fi
  (cd "$dir" && go mod tidy)
  sum_same=true
  if $had_sum; then cmp -s "$dir/go.sum" "$sum" || sum_same=false
  elif [ -s "$dir/go.sum" ]; then sum_same=false; fi
  if ! cmp -s "$dir/go.mod" "$mod" || ! $sum_same; then
    echo "go mod tidy changes ${dir#$PWD/}"
    status=1
    cp "$mod" "$dir/go.mod"
    if $had_sum; then cp "$sum" "$dir/go.sum"; else rm -f "$dir/go.sum"; fi
  fi
done
exit $status
