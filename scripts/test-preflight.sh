#!/usr/bin/env bash
# Checks, before `make test` compiles anything, the two servers its tests need and cannot
# install by themselves; when one is missing, stops at once with the command that installs it
# (the same commands as the README's first lines):
#   - redis-server on the PATH (the tests start their own), unless REDIS_ADDR names a Redis;
#   - PostgreSQL at TESTKIT_POSTGRES_URL (default 127.0.0.1:5432, role postgres, no password)
#     for the second pass, which runs the MongoDB stand-in on it;
#   - Chromium for the storefront's browser tests, unless CHROMIUM names one.
#
#   bash scripts/test-preflight.sh
set -uo pipefail

pg_url=${TESTKIT_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_url=${pg_url%%\?*} # pool_max_conns and the like are pgx's, not libpq's
problems=()

if [ -z "${REDIS_ADDR:-}" ] && ! command -v redis-server >/dev/null; then
  problems+=("redis-server is not on the PATH. Install it (Debian, Ubuntu):

    sudo apt-get install -y redis-server")
fi

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
  && ! command -v google-chrome >/dev/null && ! command -v google-chrome-stable >/dev/null; then
  problems+=("Chromium is not on the PATH (the storefront's browser tests drive it). Install it (Debian, Ubuntu):

    sudo apt-get install -y chromium")
fi

# hostport URL: host:port of a postgres:// URL.
hostport() {
  local u=${1#*://}
  u=${u##*@}
  u=${u%%/*}
  case $u in *:*) ;; *) u=$u:5432 ;; esac
  printf '%s' "$u"
}
hp=$(hostport "$pg_url")
install_pg="Install it and let the role postgres in from 127.0.0.1 without a password (Debian, Ubuntu):

    sudo apt-get install -y postgresql

then put this line first among the \`host\` lines of /etc/postgresql/*/main/pg_hba.conf:

    host all postgres 127.0.0.1/32 trust

and run: sudo systemctl restart postgresql"
if ! timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${hp%:*}" "${hp##*:}" 2>/dev/null; then
  problems+=("no PostgreSQL answers at $hp (installed but stopped: sudo systemctl start postgresql).
$install_pg")
elif command -v psql >/dev/null; then
  if ! out=$(PGCONNECT_TIMEOUT=5 psql "$pg_url" -w -X -Atc 'SELECT 1' 2>&1); then
    problems+=("PostgreSQL at $hp refuses $pg_url: ${out//$'\n'/ }
$install_pg")
  fi
fi

if [ ${#problems[@]} -eq 0 ]; then
  exit 0
fi
{
  echo "make test needs what it cannot install by itself:"
  for p in "${problems[@]}"; do printf '\n- %s\n' "$p"; done
  echo
  echo "(TESTKIT_POSTGRES_URL chooses another PostgreSQL, REDIS_ADDR a running Redis, CHROMIUM a browser.)"
} >&2
exit 1
