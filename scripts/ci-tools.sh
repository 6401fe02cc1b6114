#!/usr/bin/env bash
# Installs the pinned tools the tests call into $(go env GOPATH)/bin; a stamp file per
# version makes a second run free.
set -euo pipefail
bin="$(go env GOPATH)/bin"
mkdir -p "$bin"
install() { # name module version
  if [ ! -x "$bin/$1" ] || [ ! -f "$bin/.$1-$3" ]; then
    go install "$2@$3"
    rm -f "$bin/.$1-"*
    touch "$bin/.$1-$3"
  fi
}
install stripe-mock github.com/stripe/stripe-mock v0.203.0
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
