#!/usr/bin/env bash
# Checks, before anything is built, that the NATS and Redis `make run-services` uses answer:
# NATS with JetStream at NATS_URL (default nats://127.0.0.1:4222) and Redis at REDIS_ADDR
# (default 127.0.0.1:6379). When one does not, says how to start it and exits 1.
#
#   bash scripts/check-nats-redis.sh
set -uo pipefail

nats_url=${NATS_URL:-nats://127.0.0.1:4222}
redis_addr=${REDIS_ADDR:-127.0.0.1:6379}

# hostport URL: the host:port of the first server of a NATS URL list, without scheme or user.
hostport() {
  local u=${1%%,*}
  u=${u#*://}
  u=${u##*@}
  u=${u%%/*}
  case $u in *:*) ;; *) u=$u:4222 ;; esac
  printf '%s' "$u"
}

# ask HOST PORT REQUEST: the first line a TCP server answers (after REQUEST, if any), within 3s.
ask() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    [ -n "$3" ] && printf "%b" "$3" >&3
    IFS= read -r line <&3 && printf "%s" "$line"
  ' _ "$1" "$2" "$3" 2>/dev/null
}

problems=()

hp=$(hostport "$nats_url")
info=$(ask "${hp%:*}" "${hp##*:}" "")
case $info in
  "INFO "*'"jetstream":true'*) ;;
  "INFO "*) problems+=("NATS at $hp answers, but without JetStream (start nats-server with -js)") ;;
  *) problems+=("no NATS server answers at $hp") ;;
esac

reply=$(ask "${redis_addr%:*}" "${redis_addr##*:}" 'PING\r\n')
case $reply in
  +PONG*) ;;
  -NOAUTH*|-WRONGPASS*) problems+=("Redis at $redis_addr asks for a password; the dev stack uses Redis without one") ;;
  *) problems+=("no Redis answers at $redis_addr") ;;
esac

if [ ${#problems[@]} -eq 0 ]; then
  echo "NATS (JetStream) at $hp and Redis at $redis_addr answer."
  exit 0
fi

{
  echo "make run-services needs NATS with JetStream at $hp and Redis at $redis_addr"
  echo "(NATS_URL and REDIS_ADDR choose others):"
  for p in "${problems[@]}"; do echo "  - $p"; done
  cat <<'EOF'

Start them, for example on Debian or Ubuntu:

  sudo apt-get install -y nats-server redis-server
  mkdir -p ~/.cache/ticketing-nats
  nats-server -a 127.0.0.1 -p 4222 -js -sd ~/.cache/ticketing-nats -l ~/.cache/ticketing-nats/nats.log &
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes

Debian's redis-server package also starts Redis as a system service; its nats-server service
runs without JetStream (/etc/nats-server.conf has no jetstream block), so start NATS as above.
Without root, Go builds a NATS server: go install github.com/nats-io/nats-server/v2@v2.15.2
puts nats-server in $(go env GOPATH)/bin.

Or run `make dev`: it embeds NATS and Redis and needs neither.
EOF
} >&2
exit 1
