#!/usr/bin/env bash
# A Redis Cluster of 3 masters and 3 replicas, from the installed redis-server,
# for streamcast's tests and benchmarks, listening on 127.0.0.1 only.
#
#   scripts/redis-cluster.sh start   [options]   start the 6 nodes, create the cluster, wait until it is healthy
#   scripts/redis-cluster.sh stop    [options]   stop every node of the dir (SIGTERM, then SIGKILL after 5 s)
#                                                and remove its state, so the next start is a new cluster
#   scripts/redis-cluster.sh status  [options]   exit 0 if all 6 nodes run, else exit 1; print each node
#   scripts/redis-cluster.sh restart-node --node-port X [options]
#                                                start a node killed by a test again, with its own
#                                                nodes.conf: it rejoins, as a replica of the node that
#                                                took its slots if it was a master
#
# Options: --port P (the first node; the nodes are P..P+5, default 17000, and
# their cluster bus ports P+10000..P+10005, so P is at most 55530), --dir D
# (the nodes' folders, default .cache/redis-cluster/cluster-P: D/node-PORT
# holds that node's redis.conf, nodes.conf, redis.pid and redis.log),
# --node-timeout MS (cluster-node-timeout, default 1000: a dead master is
# failed over within a few seconds instead of the 15 s default).
# stop, status and restart-node find the nodes from D's node folders, so
# --dir alone names a cluster.
#
# The settings a test of failures wants, beyond --node-timeout:
# - cluster-require-full-coverage no: while one shard has no master (between
#   a kill and its replica's promotion), the other shards keep serving; with
#   the default (yes) every node refuses every key, and a test could not tell
#   the shard it broke from the rest.
# - cluster-allow-reads-when-down no (the default, said explicitly): a node that
#   sees the cluster down refuses reads too, so no test reads stale data from
#   a cut-off node.
# - cluster-replica-validity-factor 0: a replica always tries to fail over,
#   however long it was cut from its master (a test that stalled a master with
#   SIGSTOP, then killed it, still gets a promotion).
# - save "" and appendonly no: nothing on disk but nodes.conf.
# - repl-diskless-sync-delay 0: a replica's full sync starts at once (the
#   default waits 5 s for more replicas), at the first start and when a
#   restarted node rejoins.
# - shutdown-on-sigterm nosave now: SIGTERM exits at once, without waiting
#   for lagging replicas (Redis 7 waits up to 10 s by default).
#
# Every command is idempotent: start on a running cluster succeeds at once
# ("already running"; nodes of it that a test killed are restarted first),
# stop on a stopped one too. A port taken by anything else fails start.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCAST_REDIS_CLUSTER_CACHE:-$ROOT/.cache/redis-cluster}
TIMEOUT=${STREAMCAST_REDIS_CLUSTER_START_TIMEOUT:-60}
NODES=6

command=${1:-}
[ $# -gt 0 ] && shift
port=17000 dir="" node_timeout=1000 node_port=""
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --node-timeout) node_timeout=$2; shift 2 ;;
    --node-port) node_port=$2; shift 2 ;;
    *) echo "redis-cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1024 ] || [ $((port + 10000 + NODES - 1)) -gt 65535 ]; then
  echo "redis-cluster.sh: --port must be a number from 1024 to $((65535 - 10000 - NODES + 1)) (the bus ports are +10000)" >&2
  exit 2
fi
if ! [[ $node_timeout =~ ^[0-9]+$ ]] || [ "$node_timeout" -lt 100 ]; then
  echo "redis-cluster.sh: --node-timeout must be a number of milliseconds, at least 100" >&2
  exit 2
fi
dir=${dir:-$CACHE/cluster-$port}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }

# The ports of the nodes D holds a folder for, in order; the configured ones before the first start.
ports() {
  local found=() node
  for node in "$dir"/node-*/; do
    [ -d "$node" ] && found+=("${node%/}")
  done
  if [ ${#found[@]} -eq 0 ]; then
    seq "$port" $((port + NODES - 1))
  else
    printf '%s\n' "${found[@]##*/node-}" | sort -n
  fi
}

pid_of() {
  local pid
  pid=$(cat "$dir/node-$1/redis.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A node killed a moment ago can linger as a zombie until its parent (init) reaps it.
  [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
}

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Writes the node's redis.conf; its nodes.conf, once there, is kept.
configure() {
  local node=$dir/node-$1
  mkdir -p "$node"
  cat >"$node/redis.conf" <<CONF
port $1
bind 127.0.0.1
dir $node
daemonize no
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $node_timeout
cluster-require-full-coverage no
cluster-allow-reads-when-down no
cluster-replica-validity-factor 0
save ""
appendonly no
repl-diskless-sync-delay 0
shutdown-on-sigterm nosave now
enable-debug-command local
CONF
}

# Starts one node from its folder and waits until it accepts connections.
launch() {
  local node=$dir/node-$1
  setsid nohup redis-server "$node/redis.conf" >>"$node/redis.log" 2>&1 </dev/null 9>&- &
  echo $! >"$node/redis.pid"
  local deadline=$((SECONDS + 10))
  until accepts "$1"; do
    if ! pid_of "$1" >/dev/null; then
      echo "redis-cluster.sh: the node on port $1 exited while starting; its log ($node/redis.log) ends with:" >&2
      tail -n 20 "$node/redis.log" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "redis-cluster.sh: the node on port $1 did not listen within 10 s; see $node/redis.log" >&2
      return 1
    fi
    sleep 0.05
  done
}

# Whether the node on $1 is ready on its own: cluster_state ok and, if it is a replica, its link up.
node_ready() {
  cli "$1" CLUSTER INFO | grep -q '^cluster_state:ok' || return 1
  local replication
  replication=$(cli "$1" INFO replication) || return 1
  grep -q '^role:master' <<<"$replication" || grep -q '^master_link_status:up' <<<"$replication"
}

# Whether the whole cluster is healthy: every node runs and sees cluster_state ok, all 16384
# slots served and 6 known nodes; every replica's link is up; there are 3 masters with a
# replica each; and every node agrees on the slots (redis-cli --cluster check).
healthy() {
  local p info
  for p in $(ports); do
    pid_of "$p" >/dev/null || return 1
    node_ready "$p" || return 1
    info=$(cli "$p" CLUSTER INFO) || return 1
    grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
    grep -q "^cluster_known_nodes:$NODES" <<<"$info" || return 1
  done
  p=$(ports | head -n 1)
  # Masters with slots, each followed by a replica that is not failed.
  cli "$p" CLUSTER NODES | awk '
    $3 ~ /master/ && $3 !~ /fail/ && NF > 8 { masters[$1] = 1 }
    $3 ~ /slave/ && $3 !~ /fail/ { replicated[$4] = 1 }
    END { n = 0; for (m in masters) { if (!(m in replicated)) exit 1; n++ } exit n == 3 ? 0 : 1 }' || return 1
  local check
  check=$(redis-cli --cluster check "127.0.0.1:$p" 2>&1) || return 1
  grep -q 'All nodes agree about slots configuration' <<<"$check" && grep -q 'All 16384 slots covered' <<<"$check" &&
    ! grep -q '\[WARNING\]\|\[ERR\]' <<<"$check"
}

wait_until() {
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "redis-cluster.sh: $what within $TIMEOUT s; the nodes' logs are in $dir/node-*/redis.log" >&2
      return 1
    fi
    sleep 0.1
  done
}

lock() {
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock -w 120 9
}

start() {
  lock
  local p running=() missing=()
  for p in $(ports); do
    if pid_of "$p" >/dev/null; then running+=("$p"); else missing+=("$p"); fi
  done
  if [ ${#running[@]} -gt 0 ]; then
    # Ours already: bring back the nodes a test left killed, then wait for the whole cluster.
    for p in "${missing[@]}"; do
      if accepts "$p"; then
        echo "redis-cluster.sh: port $p is taken by another process" >&2
        return 1
      fi
      launch "$p"
    done
    wait_until "the running cluster in $dir did not become healthy" healthy
    echo "redis-cluster.sh: cluster already running on 127.0.0.1:$(ports | head -n 1) ($(ports | paste -sd, -); dir $dir)"
    return 0
  fi
  for p in $(seq "$port" $((port + NODES - 1))); do
    for q in "$p" $((p + 10000)); do
      if accepts "$q"; then
        echo "redis-cluster.sh: port $q is taken by another process (the nodes need $port..$((port + NODES - 1)) and $((port + 10000))..$((port + 10000 + NODES - 1)))" >&2
        return 1
      fi
    done
  done
  local began=$SECONDS
  rm -rf "$dir"/node-*
  for p in $(seq "$port" $((port + NODES - 1))); do
    configure "$p"
    launch "$p"
  done
  local addresses=()
  for p in $(seq "$port" $((port + NODES - 1))); do addresses+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || {
    echo "redis-cluster.sh: redis-cli --cluster create failed:" >&2
    cat "$dir/create.log" >&2
    return 1
  }
  wait_until "the new cluster did not become healthy" healthy
  echo "redis-cluster.sh: cluster running on 127.0.0.1:$port..$((port + NODES - 1)) (3 masters, 3 replicas; dir $dir; $((SECONDS - began)) s)"
}

stop() {
  lock
  local p pid pids=() stopped=()
  for p in $(ports); do
    if pid=$(pid_of "$p"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      stopped+=("$p")
    fi
  done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null; done
  # The state goes (the next start makes a new cluster); the logs stay until then.
  rm -f "$dir"/node-*/nodes.conf "$dir"/node-*/redis.pid "$dir"/node-*/dump.rdb "$dir"/node-*/redis.conf
  if [ ${#stopped[@]} -eq 0 ]; then
    echo "redis-cluster.sh: no cluster running in $dir"
  else
    echo "redis-cluster.sh: cluster stopped (nodes $(printf '%s\n' "${stopped[@]}" | paste -sd, -); dir $dir)"
  fi
}

status() {
  local p pid up=0 role
  for p in $(ports); do
    if pid=$(pid_of "$p") && accepts "$p"; then
      role=$(cli "$p" ROLE | head -n 1)
      echo "redis-cluster.sh: node 127.0.0.1:$p running (pid $pid, ${role:-unknown role})"
      up=$((up + 1))
    else
      echo "redis-cluster.sh: node 127.0.0.1:$p not running"
    fi
  done
  if [ $up -eq $NODES ]; then
    echo "redis-cluster.sh: cluster running (dir $dir)"
  else
    echo "redis-cluster.sh: $up of $NODES nodes running (dir $dir)"
    return 1
  fi
}

restart_node() {
  if [ -z "$node_port" ]; then
    echo "redis-cluster.sh: restart-node needs --node-port X" >&2
    return 2
  fi
  lock
  local node=$dir/node-$node_port
  if [ ! -f "$node/nodes.conf" ] || [ ! -f "$node/redis.conf" ]; then
    echo "redis-cluster.sh: no node of port $node_port in $dir (start the cluster first)" >&2
    return 1
  fi
  if pid=$(pid_of "$node_port"); then
    echo "redis-cluster.sh: node 127.0.0.1:$node_port already running (pid $pid)"
    return 0
  fi
  if accepts "$node_port"; then
    echo "redis-cluster.sh: port $node_port is taken by another process" >&2
    return 1
  fi
  launch "$node_port"
  # Its own readiness only: another node a test killed may still be down.
  wait_until "the node on port $node_port did not rejoin" node_ready "$node_port"
  echo "redis-cluster.sh: node 127.0.0.1:$node_port running again (pid $(cat "$node/redis.pid"), $(cli "$node_port" ROLE | head -n 1))"
}

case $command in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart-node) restart_node ;;
  *) echo "usage: scripts/redis-cluster.sh start|stop|status|restart-node [--port P] [--dir D] [--node-timeout MS] [--node-port X]" >&2; exit 2 ;;
esac
