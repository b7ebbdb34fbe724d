#!/usr/bin/env bash
# A small cluster of the portal on one machine, as separate hosts: network namespaces joined by
# veth links to a bridge in a namespace of its own, on a /24 of 10.213.0.0/16 (addresses that exist
# only inside the namespaces this script creates; nothing is added to the machine's own network).
#
# Each run has a name, NAME (CLUSTER_NAME, or lpN chosen by `up`), and a subnet 10.213.N.0/24, N
# the lowest that no other namespace on the machine uses; several clusters can be up at once, each
# with its own state folder. Its namespaces, with their short names (what `exec` takes):
#
#   NAME-db      db       10.213.N.10  PostgreSQL 15, the primary (a fresh cluster in the state folder)
#   NAME-db2     db2      10.213.N.16  PostgreSQL 15, its synchronous streaming standby
#   NAME-app1..  app1..   10.213.N.11+ python server.py, port 5000: through PgBouncer
#                                      (--database-pooler transaction), or with `up N direct` to
#                                      both databases (postgresql://...@db:5432,db2:5432/langportal
#                                      ?target_session_attrs=read-write)
#   NAME-lb      lb       10.213.N.20  HAProxy :8080 (HTTP, to the instances) and :5432 (TCP, to
#                                      whichever database is the primary), PgBouncer :6432 (to
#                                      HAProxy's :5432) (deploy/haproxy.cfg, deploy/pgbouncer.ini)
#   NAME-client  client   10.213.N.30  where load comes from (deploy/cluster.sh exec client COMMAND)
#   NAME-br      br                    the bridge
#
#   deploy/cluster.sh up [N] [pgbouncer|direct]
#                                       # N instances (1 to 3, default 3), all started at once on
#                                       # the empty database, through PgBouncer (the default) or
#                                       # direct; waits until HAProxy sees them up; prints the
#                                       # run's names and addresses (as `info`)
#   deploy/cluster.sh info              # name=..., subnet=..., balancer=..., database=..., namespaces=...
#   deploy/cluster.sh status            # namespaces, processes, HAProxy's view of the instances
#   deploy/cluster.sh instance I start|term|kill    # start, SIGTERM or SIGKILL instance I
#   deploy/cluster.sh instance I freeze|thaw        # SIGSTOP, SIGCONT instance I (a hung instance)
#   deploy/cluster.sh database stop|start|restart   # the primary's PostgreSQL
#   deploy/cluster.sh database kill|freeze|thaw     # SIGKILL, SIGSTOP, SIGCONT every process of
#                                                   # the primary's host (a dead or a hung host)
#   deploy/cluster.sh database promote              # promote the standby (pg_ctl promote); waits
#                                                   # until it takes writes
#   deploy/cluster.sh database replication sync|async   # the primary waits for the standby at
#                                                   # each commit (sync, as `up` leaves it) or not
#   deploy/cluster.sh database stall|resume         # replication stalls: SIGSTOP (SIGCONT) the
#                                                   # primary's walsender; the standby gets nothing
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
REPLICATOR_PASSWORD=langportal-replication
NAME=
NET=
INSTANCES=
VIA=pgbouncer

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

app_ip() { echo "$NET.$((10 + $1))"; }
# the URL the instances use: PgBouncer's, or both databases' with the primary chosen at each connect
db_url() { if [ "$VIA" = direct ]; then direct_url; else pooler_url; fi; }
pooler_url() { echo "postgresql://langportal:$PASSWORD@$NET.20:6432/langportal"; }
proxy_url() { echo "postgresql://langportal:$PASSWORD@$NET.20:5432/langportal"; } # HAProxy's, to the primary
direct_url() {
  echo "postgresql://langportal:$PASSWORD@$NET.10:5432,$NET.16:5432/langportal?target_session_attrs=read-write"
}

roles() { # the short names of the run's namespaces, the bridge's first
  echo "br db db2 lb client"
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
  add_host db2 "$NET.16"
  add_host lb "$NET.20"
  add_host client "$NET.30"
  for i in $(seq 1 "$INSTANCES"); do add_host "app$i" "$(app_ip "$i")"; done
}

# deploy/'s files name the addresses of 10.213.0.0/24: the run's subnet replaces it
configure() { # file: written to the state folder with the run's folder and subnet
  sed -e "s|@STATE@|$STATE|g" -e "s|10\.213\.0\.|$NET.|g" "$ROOT/deploy/$1" >"$STATE/$1"
}

# -- PostgreSQL (a primary and its standby) and PgBouncer --------------------------------------------

# db: the primary, db2: its standby. Each has a data folder, a socket folder and a log of its own.
pg_data() { if [ "$1" = db ]; then echo "$STATE/pg/data"; else echo "$STATE/pg2/data"; fi; }
pg_sock() { if [ "$1" = db ]; then echo "$STATE/pgsock"; else echo "$STATE/pgsock2"; fi; }
pg_addr() { if [ "$1" = db ]; then echo "$NET.10"; else echo "$NET.16"; fi; }
pg_log() { if [ "$1" = db ]; then echo "$STATE/postgresql.log"; else echo "$STATE/postgresql2.log"; fi; }

pg_ctl_on() { # host start|restart|stop|promote
  local host=$1 action=$2
  case "$action" in
    stop) runuser -u postgres -- "$PGBIN/pg_ctl" -D "$(pg_data "$host")" -m fast -w -t 60 stop >/dev/null ;;
    promote) runuser -u postgres -- "$PGBIN/pg_ctl" -D "$(pg_data "$host")" -w -t 60 promote >/dev/null ;;
    start | restart)
      ip netns exec "$NAME-$host" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$(pg_data "$host")" -w -t 60 \
        -m fast -l "$(pg_log "$host")" \
        -o "-c listen_addresses=$(pg_addr "$host") -c port=5432 -c unix_socket_directories=$(pg_sock "$host") -c max_connections=100" \
        "$action" >/dev/null || die "PostgreSQL on $host did not $action: $(tail -5 "$(pg_log "$host")")" ;;
  esac
}

sql_on() { # host SQL...: psql as postgres through the host's socket, one -c per statement
  local host=$1 arg
  shift
  local commands=()
  for arg in "$@"; do commands+=(-c "$arg"); done
  runuser -u postgres -- "$PGBIN/psql" -qAt -h "$(pg_sock "$host")" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    "${commands[@]}"
}

host_pids() { ip netns pids "$NAME-$1" 2>/dev/null || true; } # every process on that host

signal_host() { # host signal: every process on the host (KILL: a host that died; STOP: one that hangs)
  local pid
  for pid in $(host_pids "$1"); do kill "-$2" "$pid" 2>/dev/null || true; done
}

walsender_pid() { # the primary's walsender, which streams its WAL to the standby
  local pid
  for pid in $(host_pids db); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep walsender >/dev/null; then echo "$pid"; return 0; fi
  done
  die "the primary has no walsender (the standby is not streaming)"
}

wait_for_sql() { # host SQL expected seconds: until the query answers that
  local deadline=$((SECONDS + $4))
  while ((SECONDS < deadline)); do
    if [ "$(sql_on "$1" "$2" 2>/dev/null || true)" = "$3" ]; then return 0; fi
    sleep 0.1
  done
  die "waited $4 s on $1 for ($2) to be '$3'; it is '$(sql_on "$1" "$2" 2>&1 || true)'"
}

replication() { # sync|async: whether the primary's commits wait for the standby
  local names
  case "${1:-}" in
    sync) names=db2 ;;
    async) names= ;;
    *) die "database replication sync|async" ;;
  esac
  sql_on db "ALTER SYSTEM SET synchronous_standby_names = '$names'" "SELECT pg_reload_conf()" >/dev/null
  if [ "$1" = sync ]; then
    wait_for_sql db "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'db2'" sync 30
  else
    wait_for_sql db "SHOW synchronous_standby_names" "" 30
  fi
}

database_ctl() { # the primary's PostgreSQL, and the failover commands
  case "${1:-}" in
    stop | start | restart) pg_ctl_on db "$1" ;;
    kill) signal_host db KILL ;;
    freeze) signal_host db STOP ;;
    thaw) signal_host db CONT ;;
    promote)
      pg_ctl_on db2 promote
      wait_for_sql db2 "SELECT pg_is_in_recovery()" f 30
      if [ -n "$(host_pids db)" ]; then
        say "warning: the old primary's host still has processes (frozen, or running): if it runs on, two primaries take writes; kill or stop it"
      fi ;;
    replication) replication "${2:-}" ;;
    stall) kill -STOP "$(walsender_pid)" ;;
    resume) kill -CONT "$(walsender_pid)" ;;
    *) die "database stop|start|restart|kill|freeze|thaw|promote|replication sync|async|stall|resume" ;;
  esac
}

database_up() {
  local host
  for host in db db2; do
    mkdir -p "$(dirname "$(pg_data "$host")")" "$(pg_sock "$host")"
    chown postgres: "$(dirname "$(pg_data "$host")")" "$(pg_sock "$host")"
    chmod 700 "$(dirname "$(pg_data "$host")")"
  done
  chown postgres: "$STATE"
  runuser -u postgres -- "$PGBIN/initdb" -D "$STATE/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$STATE/initdb.log")"
  # HAProxy's check of which database is the primary logs in as primary_check, without a password,
  # from HAProxy's address only, to the database postgres (no access to the portal's data)
  {
    echo "host postgres primary_check $NET.20/32 trust"
    echo "host replication replicator $NET.0/24 scram-sha-256"
    echo "host all all $NET.0/24 scram-sha-256"
  } >>"$STATE/pg/data/pg_hba.conf"
  pg_ctl_on db start
  sql_on db "CREATE ROLE langportal LOGIN PASSWORD '$PASSWORD'" "CREATE DATABASE langportal OWNER langportal" \
    "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$REPLICATOR_PASSWORD'" "CREATE ROLE primary_check LOGIN" \
    >/dev/null
  # the standby: a copy of the primary that streams its WAL from then on
  ip netns exec "$NAME-db2" runuser -u postgres -- env PGPASSWORD="$REPLICATOR_PASSWORD" \
    "$PGBIN/pg_basebackup" -h "$NET.10" -U replicator -D "$STATE/pg2/data" -X stream -c fast \
    >"$STATE/basebackup.log" 2>&1 || die "pg_basebackup failed: $(tail -3 "$STATE/basebackup.log")"
  runuser -u postgres -- touch "$STATE/pg2/data/standby.signal"
  echo "primary_conninfo = 'host=$NET.10 port=5432 user=replicator password=$REPLICATOR_PASSWORD application_name=db2'" \
    >>"$STATE/pg2/data/postgresql.auto.conf"
  pg_ctl_on db2 start
  replication sync # from here every commit on the primary waits until the standby has it on disk
  printf '"langportal" "%s"\n' "$PASSWORD" >"$STATE/userlist.txt"
  configure pgbouncer.ini
  chown postgres: "$STATE/userlist.txt" "$STATE/pgbouncer.ini"
  chmod 600 "$STATE/userlist.txt"
  touch "$STATE/pgbouncer.log" && chown postgres: "$STATE/pgbouncer.log"
}

pgbouncer_up() { # on the balancer's host, after HAProxy (PgBouncer reaches the primary through it)
  ip netns exec "$NAME-lb" pgbouncer -d -u postgres "$STATE/pgbouncer.ini" || die "PgBouncer did not start"
}

# -- the instances and HAProxy -------------------------------------------------------------------------

instance_start() { # i
  local i=$1
  [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$INSTANCES" ] || die "no instance $i (1 to $INSTANCES)"
  local via=(--database-pooler transaction)
  if [ "$VIA" = direct ]; then via=(--database-pooler none --instances "$INSTANCES"); fi
  ip netns exec "$NAME-app$i" setsid "$PYTHON" "$ROOT/server.py" --database-url "$(db_url)" \
    "${via[@]}" --host 0.0.0.0 --port 5000 --pool-size 10 --shutdown-grace 5 \
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
  echo "via=$VIA"
  echo "balancer=http://$NET.20:8080"
  echo "database=$(db_url)"
  echo "direct=$(direct_url)"
  echo "pooler=$(pooler_url)"
  echo "proxy=$(proxy_url)"
  echo "primary=$NET.10:5432"
  echo "standby=$NET.16:5432"
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
  for host in db db2; do
    signal_host "$host" CONT # a frozen database stops too
    [ -d "$(pg_data "$host")" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$(pg_data "$host")" -m immediate -w -t 10 stop >/dev/null 2>&1
  done
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
  VIA=${2:-pgbouncer}
  [[ "$INSTANCES" =~ ^[123]$ ]] || die "up takes 1 to 3 instances, not $INSTANCES"
  [[ "$VIA" =~ ^(pgbouncer|direct)$ ]] || die "up N pgbouncer|direct, not $VIA"
  [ "$(id -u)" = 0 ] || die "needs root (ip netns)"
  for tool in pgbouncer haproxy flock "$PGBIN/initdb" "$PGBIN/pg_basebackup" "$PYTHON"; do
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
  printf 'NAME=%s\nNET=%s\nINSTANCES=%s\nVIA=%s\n' "$NAME" "$NET" "$INSTANCES" "$VIA" >"$STATE/run"
  network_up
  exec 9>&- # the subnet is taken (its addresses exist): the next `up` may choose
  database_up
  lb_up
  pgbouncer_up
  for i in $(seq 1 "$INSTANCES"); do instance_start "$i"; done # all at once, on the empty database
  if ! wait_up 60; then
    for i in $(seq 1 "$INSTANCES"); do say "app$i: $(tail -3 "$STATE/app$i.log")"; done
    false
  fi
  trap - EXIT ERR INT TERM
  say "up: $NAME, $INSTANCES instance(s) behind http://$NET.20:8080, $VIA to the primary $NET.10 and its synchronous standby $NET.16 (from its client namespace: deploy/cluster.sh exec client curl ...)"
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
  for host in db db2; do
    if [ -n "$(host_pids "$host")" ]; then
      echo "$host: $(timeout 3 "$0" _sql "$host" "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END" 2>/dev/null || echo 'not answering')"
    else
      echo "$host: no process"
    fi
  done
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
      freeze) instance_signal "$1" STOP ;;
      thaw) instance_signal "$1" CONT ;;
      *) die "instance I start|term|kill|freeze|thaw" ;;
    esac ;;
  database) load_run; database_ctl "$@" ;;
  _sql) load_run; sql_on "$@" ;; # for status: a psql that `timeout` can end (a frozen host never answers)
  exec)
    load_run
    ns=$(namespace_of "${1:-}")
    shift
    exec ip netns exec "$ns" "$@" ;;
  *) sed -n '2,45p' "$0"; exit 2 ;;
esac
