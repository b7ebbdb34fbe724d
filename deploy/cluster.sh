#!/usr/bin/env bash
# A small cluster of the portal on one machine, as separate hosts: network namespaces joined by
# veth links to a bridge in a namespace of its own, on 10.213.0.0/24 (addresses that exist only
# inside the namespaces this script creates; nothing is added to the machine's own network).
#
#   lp-db       10.213.0.10  PostgreSQL 15 (a fresh cluster in the state folder) + PgBouncer :6432
#   lp-app1..N  10.213.0.11+ python server.py --database-pooler transaction, port 5000
#   lp-lb       10.213.0.20  HAProxy :8080 (deploy/haproxy.cfg)
#   lp-client   10.213.0.30  where load comes from (deploy/cluster.sh exec lp-client COMMAND)
#
#   deploy/cluster.sh up [N]            # N instances (2 or 3, default 3), all started at once on
#                                       # the empty database; waits until HAProxy sees them up
#   deploy/cluster.sh status            # namespaces, processes, HAProxy's view of the instances
#   deploy/cluster.sh instance I start|term|kill    # start, SIGTERM or SIGKILL instance I
#   deploy/cluster.sh exec NS COMMAND...            # run a command in namespace NS
#   deploy/cluster.sh down              # stop everything and remove every namespace and file
#
# Needs root (ip netns), Debian's postgresql-15, pgbouncer and haproxy, and the project's
# virtualenv (PYTHON, default: .venv/bin/python of this checkout). State: $LANGPORTAL_CLUSTER_STATE
# (default /tmp/langportal-cluster). `up` that fails half-way removes what it made.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${LANGPORTAL_CLUSTER_STATE:-/tmp/langportal-cluster}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
NET=10.213.0
BRIDGE_NS=lp-br
DB_NS=lp-db
LB_NS=lp-lb
CLIENT_NS=lp-client
PASSWORD=langportal-cluster
DB_URL="postgresql://langportal:$PASSWORD@$NET.10:6432/langportal"

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

app_ns() { echo "lp-app$1"; }
app_ip() { echo "$NET.$((10 + $1))"; }

all_namespaces() {
  echo "$BRIDGE_NS $DB_NS $LB_NS $CLIENT_NS"
  for i in 1 2 3; do app_ns "$i"; done
}

# -- the network -----------------------------------------------------------------------------------

add_host() { # namespace address
  local ns=$1 address=$2 veth="v-${1#lp-}"
  ip netns add "$ns"
  ip -n "$BRIDGE_NS" link add "$veth" type veth peer name eth0 netns "$ns"
  ip -n "$BRIDGE_NS" link set "$veth" master br0 up
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}

network_up() {
  ip netns add "$BRIDGE_NS" || die "cannot create network namespaces (ip netns add needs root)"
  ip -n "$BRIDGE_NS" link add br0 type bridge
  ip -n "$BRIDGE_NS" link set br0 up
  ip -n "$BRIDGE_NS" link set lo up
  add_host "$DB_NS" "$NET.10"
  add_host "$LB_NS" "$NET.20"
  add_host "$CLIENT_NS" "$NET.30"
  for i in $(seq 1 "$INSTANCES"); do add_host "$(app_ns "$i")" "$(app_ip "$i")"; done
}

# -- PostgreSQL and PgBouncer ------------------------------------------------------------------------

database_up() {
  mkdir -p "$STATE/pg" "$STATE/pgsock"
  chown postgres: "$STATE" "$STATE/pg" "$STATE/pgsock"
  chmod 700 "$STATE/pg"
  runuser -u postgres -- "$PGBIN/initdb" -D "$STATE/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$STATE/initdb.log")"
  echo "host all all $NET.0/24 scram-sha-256" >>"$STATE/pg/data/pg_hba.conf"
  ip netns exec "$DB_NS" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg/data" -w -t 60 \
    -l "$STATE/postgresql.log" \
    -o "-c listen_addresses=$NET.10 -c port=5432 -c unix_socket_directories=$STATE/pgsock -c max_connections=100" \
    start >/dev/null || die "PostgreSQL did not start: $(tail -5 "$STATE/postgresql.log")"
  runuser -u postgres -- "$PGBIN/psql" -q -h "$STATE/pgsock" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE langportal LOGIN PASSWORD '$PASSWORD'" -c "CREATE DATABASE langportal OWNER langportal" \
    >/dev/null
  printf '"langportal" "%s"\n' "$PASSWORD" >"$STATE/userlist.txt"
  sed "s|@STATE@|$STATE|g" "$ROOT/deploy/pgbouncer.ini" >"$STATE/pgbouncer.ini"
  chown postgres: "$STATE/userlist.txt" "$STATE/pgbouncer.ini"
  chmod 600 "$STATE/userlist.txt"
  touch "$STATE/pgbouncer.log" && chown postgres: "$STATE/pgbouncer.log"
  ip netns exec "$DB_NS" pgbouncer -d -u postgres "$STATE/pgbouncer.ini" || die "PgBouncer did not start"
}

# -- the instances and HAProxy -------------------------------------------------------------------------

instance_start() { # i
  local i=$1
  ip netns exec "$(app_ns "$i")" setsid "$PYTHON" "$ROOT/server.py" --database-url "$DB_URL" \
    --database-pooler transaction --host 0.0.0.0 --port 5000 --pool-size 10 --shutdown-grace 5 \
    --seed-demo --log-level "${LOG_LEVEL:-INFO}" </dev/null >>"$STATE/app$i.log" 2>&1 &
  echo $! >"$STATE/app$i.pid"
}

instance_signal() { # i signal
  local pid
  pid=$(cat "$STATE/app$1.pid" 2>/dev/null) || return 0
  kill "-$2" "$pid" 2>/dev/null || true
}

wait_up() { # seconds: until HAProxy sees every started instance UP
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    if [ "$(haproxy_states | grep -c ' UP$')" -ge "$INSTANCES" ]; then return 0; fi
    sleep 0.2
  done
  return 1
}

haproxy_states() { # "app1 UP" lines from the stats socket
  "$PYTHON" - "$STATE/haproxy.sock" <<'PY' 2>/dev/null || true
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 17 and f[0] == "instances" and f[1] not in ("BACKEND", "FRONTEND"):
        print(f[1], f[17].split()[0])
PY
}

lb_up() {
  sed "s|@STATE@|$STATE|g" "$ROOT/deploy/haproxy.cfg" >"$STATE/haproxy.cfg"
  if [ "$INSTANCES" -lt 3 ]; then sed -i "/server app3 /d" "$STATE/haproxy.cfg"; fi
  ip netns exec "$LB_NS" haproxy -D -f "$STATE/haproxy.cfg" || die "HAProxy did not start"
}

# -- commands ------------------------------------------------------------------------------------------

down() {
  set +e
  if [ -d "$STATE" ]; then
    for i in 1 2 3; do instance_signal "$i" TERM; done
    sleep 1
    for i in 1 2 3; do instance_signal "$i" KILL; done
    [ -f "$STATE/haproxy.pid" ] && kill "$(cat "$STATE/haproxy.pid")" 2>/dev/null
    [ -f "$STATE/pgbouncer.pid" ] && kill -INT "$(cat "$STATE/pgbouncer.pid")" 2>/dev/null
    [ -d "$STATE/pg/data" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m immediate -w stop >/dev/null 2>&1
  fi
  for ns in $(all_namespaces); do
    if ip netns pids "$ns" >/dev/null 2>&1; then
      for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    fi
  done
  rm -rf "$STATE"
  set -e
}

up() {
  INSTANCES=${1:-3}
  [[ "$INSTANCES" =~ ^[23]$ ]] || die "up takes 2 or 3 instances, not $INSTANCES"
  [ "$(id -u)" = 0 ] || die "needs root (ip netns)"
  for tool in pgbouncer haproxy "$PGBIN/initdb" "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y postgresql-15 pgbouncer haproxy; the project's virtualenv)"
  done
  if ip netns list | grep -qw "$BRIDGE_NS"; then die "a cluster is up already (deploy/cluster.sh down first)"; fi
  trap 'code=$?; if [ "$code" != 0 ]; then say "up failed; removing everything"; down; fi' EXIT
  trap 'exit 1' ERR INT TERM
  rm -rf "$STATE" && mkdir -p "$STATE" && echo "$INSTANCES" >"$STATE/instances"
  network_up
  database_up
  lb_up
  for i in $(seq 1 "$INSTANCES"); do instance_start "$i"; done # all at once, on the empty database
  if ! wait_up 60; then
    for i in $(seq 1 "$INSTANCES"); do say "app$i: $(tail -3 "$STATE/app$i.log")"; done
    false
  fi
  trap - EXIT ERR INT TERM
  say "up: $INSTANCES instances behind http://$NET.20:8080 (from lp-client: deploy/cluster.sh exec lp-client curl ...)"
}

status() {
  [ -d "$STATE" ] || { say "down"; return 0; }
  INSTANCES=$(cat "$STATE/instances")
  ip netns list | grep -E '^lp-' || true
  for i in $(seq 1 "$INSTANCES"); do
    pid=$(cat "$STATE/app$i.pid" 2>/dev/null || echo)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "app$i running (pid $pid)"; else echo "app$i stopped"; fi
  done
  haproxy_states
}

command=${1:-}
shift || true
case "$command" in
  up) up "$@" ;;
  down) down; say "down" ;;
  status) status ;;
  instance)
    INSTANCES=$(cat "$STATE/instances")
    case "${2:-}" in
      start) instance_start "$1" ;;
      term) instance_signal "$1" TERM ;;
      kill) instance_signal "$1" KILL ;;
      *) die "instance I start|term|kill" ;;
    esac ;;
  exec) ns=$1; shift; exec ip netns exec "$ns" "$@" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
