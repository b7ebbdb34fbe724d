#!/usr/bin/env bash
# A small cluster of the portal on one machine, as separate hosts: network namespaces joined by
# veth links to a bridge in a namespace of its own, on a /24 of 10.213.0.0/16 (addresses that exist
# only inside the namespaces this script creates; nothing is added to the machine's own network).
#
# Each run has a name, NAME (CLUSTER_NAME, or lpN chosen by `up`), and a subnet 10.213.N.0/24, N
# the lowest that no other namespace on the machine uses; several clusters can be up at once, each
# with its own state folder. Its namespaces, with their short names (what `exec` takes):
#
#   NAME-db      db       10.213.N.10  PostgreSQL 15 (a fresh cluster in the state folder) + PgBouncer :6432
#   NAME-app1..  app1..   10.213.N.11+ python server.py --database-pooler transaction, port 5000
#   NAME-lb      lb       10.213.N.20  HAProxy :8080 (deploy/haproxy.cfg)
#   NAME-client  client   10.213.N.30  where load comes from (deploy/cluster.sh exec client COMMAND)
#   NAME-br      br                    the bridge
#
#   deploy/cluster.sh up [N]            # N instances (1 to 3, default 3), all started at once on
#                                       # the empty database; waits until HAProxy sees them up;
#                                       # prints the run's names and addresses (as `info`)
#   deploy/cluster.sh info              # name=..., subnet=..., balancer=..., database=..., namespaces=...
#   deploy/cluster.sh status            # namespaces, processes, HAProxy's view of the instances
#   deploy/cluster.sh instance I start|term|kill    # start, SIGTERM or SIGKILL instance I
#   deploy/cluster.sh database stop|start|restart   # the run's PostgreSQL (behind PgBouncer)
#   deploy/cluster.sh exec NS COMMAND...            # run a command in the run's namespace NS
#                                                   # (client, db, lb, app1..; or its full name)
#   deploy/cluster.sh down              # stop this run's processes, remove its namespaces and files
#
# Needs root (ip netns), Debian's postgresql-15, pgbouncer and haproxy, and the project's
# virtualenv (PYTHON, default: .venv/bin/python of this checkout). State: $LANGPORTAL_CLUSTER_STATE
# (default /tmp/langportal-cluster, or /tmp/langportal-cluster-NAME with CLUSTER_NAME); every
# command but `up` acts on the run recorded there, and `down` on nothing else. `up` that fails
# half-way removes what it made.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${LANGPORTAL_CLUSTER_STATE:-/tmp/langportal-cluster${CLUSTER_NAME:+-$CLUSTER_NAME}}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
# Held while a run picks its subnet and creates its namespaces, so two `up`s at once pick two.
LOCK="${LANGPORTAL_CLUSTER_LOCK:-/run/lock/langportal-cluster.lock}"
PASSWORD=langportal-cluster
NAME=
NET=
INSTANCES=

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

app_ip() { echo "$NET.$((10 + $1))"; }
db_url() { echo "postgresql://langportal:$PASSWORD@$NET.10:6432/langportal"; }

roles() { # the short names of the run's namespaces, the bridge's first
  echo "br db lb client"
  for i in $(seq 1 "$INSTANCES"); do echo "app$i"; done
}

all_namespaces() { for role in $(roles); do echo "$NAME-$role"; done; }

namespace_of() { # short name (client), the run's full name (NAME-client) or the old one (lp-client)
  local role=$1
  case "$role" in
    "$NAME"-*) role=${role#"$NAME"-} ;;
    lp-*) role=${role#lp-} ;;
  esac
  for known in $(roles); do
    if [ "$known" = "$role" ]; then echo "$NAME-$role"; return 0; fi
  done
  die "$1 is not a namespace of the cluster $NAME (one of: $(roles | tr '\n' ' '))"
}

# (grep without -q: reading to the end, it never leaves ip or awk a broken pipe, which pipefail
# would count as a failure)
list_namespaces() { ip netns list | awk '{print $1}'; }
namespace_exists() { list_namespaces | grep -xF -- "$1" >/dev/null; }

# -- the run: its name and subnet, recorded in the state folder --------------------------------------

load_run() { # the run recorded by `up` in $STATE
  [ -f "$STATE/run" ] || die "no cluster is recorded in $STATE (LANGPORTAL_CLUSTER_STATE or CLUSTER_NAME name another?)"
  # shellcheck disable=SC1091
  . "$STATE/run"
  if [ -n "${CLUSTER_NAME:-}" ] && [ "$CLUSTER_NAME" != "$NAME" ]; then
    die "$STATE holds the cluster $NAME, not $CLUSTER_NAME"
  fi
}

subnets_in_use() { # the N of every 10.213.N.x address in any namespace of the machine
  local ns
  for ns in $(list_namespaces); do
    ip -n "$ns" -o -4 addr show 2>/dev/null | grep -oE 'inet 10\.213\.[0-9]+\.' | cut -d. -f3 || true
  done | sort -un
}

choose_run() { # sets NAME and NET; called with $LOCK held
  local used n candidate
  used=" $(subnets_in_use | tr '\n' ' ') "
  for n in $(seq 0 255); do
    [[ "$used" == *" $n "* ]] && continue
    candidate=${CLUSTER_NAME:-lp$n}
    # a namespace left by a run that half-failed, with no address, still holds its name
    if [ -z "${CLUSTER_NAME:-}" ] && list_namespaces | grep "^$candidate-" >/dev/null; then continue; fi
    NAME=$candidate
    NET=10.213.$n
    return 0
  done
  die "every subnet 10.213.0-255.0/24 is in use by other namespaces"
}

# -- the network -----------------------------------------------------------------------------------

new_namespace() { # name: created and recorded in $STATE/namespaces, what `down` removes
  ip netns add "$1" || die "cannot create the network namespace $1"
  echo "$1" >>"$STATE/namespaces"
}

add_host() { # role address
  local ns="$NAME-$1" veth="v-$1"
  new_namespace "$ns"
  ip -n "$NAME-br" link add "$veth" type veth peer name eth0 netns "$ns"
  ip -n "$NAME-br" link set "$veth" master br0 up
  ip -n "$ns" addr add "$2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}

network_up() {
  new_namespace "$NAME-br"
  ip -n "$NAME-br" link add br0 type bridge
  ip -n "$NAME-br" link set br0 up
  ip -n "$NAME-br" link set lo up
  add_host db "$NET.10"
  add_host lb "$NET.20"
  add_host client "$NET.30"
  for i in $(seq 1 "$INSTANCES"); do add_host "app$i" "$(app_ip "$i")"; done
}

# deploy/'s files name the addresses of 10.213.0.0/24: the run's subnet replaces it
configure() { # file: written to the state folder with the run's folder and subnet
  sed -e "s|@STATE@|$STATE|g" -e "s|10\.213\.0\.|$NET.|g" "$ROOT/deploy/$1" >"$STATE/$1"
}

# -- PostgreSQL and PgBouncer ------------------------------------------------------------------------

database_ctl() { # start|stop|restart the run's PostgreSQL (stop: fast, its sessions ended)
  case "$1" in
    stop) runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m fast -w -t 60 stop >/dev/null ;;
    start | restart)
      ip netns exec "$NAME-db" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg/data" -w -t 60 \
        -m fast -l "$STATE/postgresql.log" \
        -o "-c listen_addresses=$NET.10 -c port=5432 -c unix_socket_directories=$STATE/pgsock -c max_connections=100" \
        "$1" >/dev/null || die "PostgreSQL did not $1: $(tail -5 "$STATE/postgresql.log")" ;;
    *) die "database start|stop|restart" ;;
  esac
}

database_up() {
  mkdir -p "$STATE/pg" "$STATE/pgsock"
  chown postgres: "$STATE" "$STATE/pg" "$STATE/pgsock"
  chmod 700 "$STATE/pg"
  runuser -u postgres -- "$PGBIN/initdb" -D "$STATE/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$STATE/initdb.log")"
  echo "host all all $NET.0/24 scram-sha-256" >>"$STATE/pg/data/pg_hba.conf"
  database_ctl start
  runuser -u postgres -- "$PGBIN/psql" -q -h "$STATE/pgsock" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE langportal LOGIN PASSWORD '$PASSWORD'" -c "CREATE DATABASE langportal OWNER langportal" \
    >/dev/null
  printf '"langportal" "%s"\n' "$PASSWORD" >"$STATE/userlist.txt"
  configure pgbouncer.ini
  chown postgres: "$STATE/userlist.txt" "$STATE/pgbouncer.ini"
  chmod 600 "$STATE/userlist.txt"
  touch "$STATE/pgbouncer.log" && chown postgres: "$STATE/pgbouncer.log"
  ip netns exec "$NAME-db" pgbouncer -d -u postgres "$STATE/pgbouncer.ini" || die "PgBouncer did not start"
}

# -- the instances and HAProxy -------------------------------------------------------------------------

instance_start() { # i
  local i=$1
  [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$INSTANCES" ] || die "no instance $i (1 to $INSTANCES)"
  ip netns exec "$NAME-app$i" setsid "$PYTHON" "$ROOT/server.py" --database-url "$(db_url)" \
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
  configure haproxy.cfg
  for i in 2 3; do
    if [ "$INSTANCES" -lt "$i" ]; then sed -i "/server app$i /d" "$STATE/haproxy.cfg"; fi
  done
  ip netns exec "$NAME-lb" haproxy -D -f "$STATE/haproxy.cfg" || die "HAProxy did not start"
}

# -- commands ------------------------------------------------------------------------------------------

info() {
  echo "name=$NAME"
  echo "subnet=$NET.0/24"
  echo "instances=$INSTANCES"
  echo "balancer=http://$NET.20:8080"
  echo "database=$(db_url)"
  echo "namespaces=$(all_namespaces | tr '\n' ' ' | sed 's/ $//')"
  echo "state=$STATE"
}

down() { # this run only: the processes it started, then whatever still runs in the namespaces it made
  local ns pid
  set +e
  for i in $(seq 1 "$INSTANCES"); do instance_signal "$i" TERM; done
  sleep 1
  for i in $(seq 1 "$INSTANCES"); do instance_signal "$i" KILL; done
  [ -f "$STATE/haproxy.pid" ] && kill "$(cat "$STATE/haproxy.pid")" 2>/dev/null
  [ -f "$STATE/pgbouncer.pid" ] && kill -INT "$(cat "$STATE/pgbouncer.pid")" 2>/dev/null
  [ -d "$STATE/pg/data" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m immediate -w stop >/dev/null 2>&1
  for ns in $(cat "$STATE/namespaces" 2>/dev/null); do
    if namespace_exists "$ns"; then
      for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    fi
  done
  rm -rf "$STATE"
  set -e
}

up() {
  INSTANCES=${1:-3}
  [[ "$INSTANCES" =~ ^[123]$ ]] || die "up takes 1 to 3 instances, not $INSTANCES"
  [ "$(id -u)" = 0 ] || die "needs root (ip netns)"
  for tool in pgbouncer haproxy flock "$PGBIN/initdb" "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y postgresql-15 pgbouncer haproxy; the project's virtualenv)"
  done
  if [ -n "${CLUSTER_NAME:-}" ] && ! [[ "$CLUSTER_NAME" =~ ^[a-z][a-z0-9]{0,15}$ ]]; then
    die "CLUSTER_NAME: a letter, then up to 15 letters and digits, not $CLUSTER_NAME"
  fi
  for ns in $(cat "$STATE/namespaces" 2>/dev/null); do
    if namespace_exists "$ns"; then
      die "a cluster is up already in $STATE (deploy/cluster.sh down first, or another LANGPORTAL_CLUSTER_STATE)"
    fi
  done
  rm -rf "$STATE" && mkdir -p "$STATE"
  # from here a failure removes what this run made: the processes it started, the namespaces it
  # recorded in $STATE/namespaces, the state folder; nothing else
  trap 'code=$?; if [ "$code" != 0 ]; then say "up failed; removing what it made"; down; fi' EXIT
  set -E # a failed command in a function too says what failed, where
  trap 'say "failed (line $LINENO): $BASH_COMMAND"; exit 1' ERR
  trap 'exit 1' INT TERM
  mkdir -p "$(dirname "$LOCK")"
  exec 9>>"$LOCK"
  flock -w 60 9 || die "another cluster.sh up held $LOCK for 60 s"
  choose_run
  for ns in $(all_namespaces); do
    if namespace_exists "$ns"; then die "the namespace $ns exists already (another cluster named $NAME?)"; fi
  done
  printf 'NAME=%s\nNET=%s\nINSTANCES=%s\n' "$NAME" "$NET" "$INSTANCES" >"$STATE/run"
  network_up
  exec 9>&- # the subnet is taken (its addresses exist): the next `up` may choose
  database_up
  lb_up
  for i in $(seq 1 "$INSTANCES"); do instance_start "$i"; done # all at once, on the empty database
  if ! wait_up 60; then
    for i in $(seq 1 "$INSTANCES"); do say "app$i: $(tail -3 "$STATE/app$i.log")"; done
    false
  fi
  trap - EXIT ERR INT TERM
  say "up: $NAME, $INSTANCES instance(s) behind http://$NET.20:8080 (from its client namespace: deploy/cluster.sh exec client curl ...)"
  info
}

status() {
  [ -f "$STATE/run" ] || { say "down (nothing recorded in $STATE)"; return 0; }
  load_run
  for ns in $(all_namespaces); do
    if namespace_exists "$ns"; then echo "$ns"; else echo "$ns missing"; fi
  done
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
  down)
    if [ -f "$STATE/run" ]; then load_run; down; say "down: $NAME"; else say "no cluster recorded in $STATE: nothing to do"; fi ;;
  info) load_run; info ;;
  status) status ;;
  instance)
    load_run
    case "${2:-}" in
      start) instance_start "$1" ;;
      term) instance_signal "$1" TERM ;;
      kill) instance_signal "$1" KILL ;;
      *) die "instance I start|term|kill" ;;
    esac ;;
  database) load_run; database_ctl "${1:-}" ;;
  exec)
    load_run
    ns=$(namespace_of "${1:-}")
    shift
    exec ip netns exec "$ns" "$@" ;;
  *) sed -n '2,30p' "$0"; exit 2 ;;
esac
