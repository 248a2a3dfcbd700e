#!/usr/bin/env bash
# Stops what deploy/local/up.sh started, by its pid files under deploy/local/.run/pids, in reverse
# order: the services (ingest, embed, rank, notify), maildev, the four Redis, the RabbitMQ node, and
# epmd only if that node started it and no other Erlang node uses it. Nothing else is touched.
# Data stays under deploy/local/.run (RabbitMQ queues, Redis AOF); `rm -rf deploy/local/.run`
# after this script forgets it all, the generated secrets included.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run="$here/.run"
pids="$run/pids"
rabbitmq_dir="$run/rabbitmq"
rabbitmq_node=pipeline@localhost

log() { printf '%s\n' "$*"; }

# The pid in the file when that process is still the one up.sh started: its command line contains
# the marker (a pid can be reused by an unrelated process after a crash or a reboot).
live_pid() {
  local pidfile="$1" marker="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  printf '%s' "$pid"
}

# Gone, or a zombie waiting for init to reap it (the processes were detached from up.sh).
gone() {
  local stat state
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  state="${stat##*) }" # the field after "(command name)"
  [[ "${state%% *}" == Z ]]
}

wait_gone() {
  local pid="$1" seconds="$2" i
  for ((i = 0; i < seconds * 10; i++)); do
    gone "$pid" && return 0
    sleep 0.1
  done
  return 1
}

# SIGTERM (a graceful stop: the services drain their consumers, Redis flushes its AOF), then
# SIGKILL if it is still there after the grace period.
stop_pid() {
  local name="$1" pidfile="$2" marker="$3" grace="${4:-30}" pid
  if ! pid="$(live_pid "$pidfile" "$marker")"; then
    [[ -e "$pidfile" ]] && log "$name was not running"
    rm -f "$pidfile"
    return 0
  fi
  log "Stopping $name (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$grace"; then
    log "$name did not stop within ${grace}s: killing it"
    # up.sh starts each under setsid, so its pid leads a process group: killing the group takes
    # the child a supervisor started (a service's dotnet) too, so no orphan keeps its ports.
    kill -KILL -- "-$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || true
  fi
  rm -f "$pidfile"
}

stop_rabbitmq() {
  local pidfile="$pids/rabbitmq.pid" pid
  if pid="$(live_pid "$pidfile" "$rabbitmq_dir")"; then
    log "Stopping RabbitMQ ($rabbitmq_node, pid $pid) ..."
    # A clean stop through the node itself; the pid file makes rabbitmqctl wait for the process.
    if ! HOME="$rabbitmq_dir" timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$rabbitmq_node" stop "$pidfile" >/dev/null 2>&1; then
      stop_pid RabbitMQ "$pidfile" "$rabbitmq_dir" 30
    fi
    wait_gone "$pid" 10 || true
  elif [[ -e "$pidfile" ]]; then
    log "RabbitMQ was not running"
  fi
  rm -f "$pidfile"
  # The launcher shell exits with the node; stop it too if it is somehow left.
  stop_pid "RabbitMQ launcher" "$pids/rabbitmq-launcher.pid" rabbitmq-server 5 >/dev/null

  # Epmd outlives the nodes it serves. Stop it only if up.sh's node started it and no other node
  # on this machine is registered with it now.
  if [[ -e "$pids/epmd.started-by-up" ]]; then
    local epmd
    epmd="$(command -v epmd || true)"
    if [[ -n "$epmd" ]] && ! "$epmd" -names 2>/dev/null | grep -q '^name '; then
      "$epmd" -kill >/dev/null 2>&1 && log "Stopped epmd (started by up.sh's RabbitMQ node)"
    fi
    rm -f "$pids/epmd.started-by-up"
  fi
}

if [[ ! -d "$pids" ]]; then
  log "Nothing to stop: $pids does not exist."
  exit 0
fi

for name in ingest embed rank notify; do
  assembly="Pipeline.${name^}"
  stop_pid "$name" "$pids/$name.pid" "$assembly.dll" 30
done
stop_pid maildev "$pids/maildev.pid" maildev 10
declare -A redis_port=([ingest]=6381 [embed]=6382 [rank]=6383 [notify]=6384)
for name in ingest embed rank notify; do
  stop_pid "redis-$name" "$pids/redis-$name.pid" "redis-server 127.0.0.1:${redis_port[$name]}" 30
done
stop_rabbitmq

log "Stopped. State is kept in ${run}; remove it to start from scratch."
