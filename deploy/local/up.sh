#!/usr/bin/env bash
# Runs the whole pipeline on this machine without Docker, everything on 127.0.0.1: a private
# RabbitMQ node, four Redis (AOF, fsync every second), maildev as the mail inbox, then the four
# services downstream first (notify, embed, rank, ingest), each started once the one before it
# is ready. The same topology as docker-compose.yml; docs/deploy.md describes it.
#
#   deploy/local/up.sh                    install what is missing, build, start, wait until healthy
#   SKIP_BUILD=1 deploy/local/up.sh       use the last `dotnet build -c Release` as it is
#   INFRA_ONLY=1 deploy/local/up.sh       only RabbitMQ, Redis and maildev (no build, no services)
#   Smtp__Port=2525 deploy/local/up.sh    any setting below can be given; the environment wins
#
# State, logs and pid files live under deploy/local/.run (git-ignored); deploy/local/down.sh stops
# what this started. Running it again starts only what is not running yet.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$here/.run"
tools="$here/.tools"
logs="$run/logs"
pids="$run/pids"

# The port table of services/Pipeline.ServiceDefaults/ServicePorts.cs.
declare -A grpc_port=([ingest]=5101 [embed]=5102 [rank]=5103 [notify]=5104)
declare -A http_port=([ingest]=5201 [embed]=5202 [rank]=5203 [notify]=5204)
declare -A redis_port=([ingest]=6381 [embed]=6382 [rank]=6383 [notify]=6384)
declare -A assembly=([ingest]=Pipeline.Ingest [embed]=Pipeline.Embed [rank]=Pipeline.Rank [notify]=Pipeline.Notify)
# Consumers first: a service's queues exist once it is ready, so nothing publishes into the void.
start_order=(notify embed rank ingest)
rabbitmq_port=5672
rabbitmq_node=pipeline@localhost
rabbitmq_management_port=15672
maildev_web_port=8025

# --- settings: each keeps the value the caller gave it -----------------------------------------------
: "${ConnectionStrings__rabbitmq:=amqp://guest:guest@127.0.0.1:$rabbitmq_port/}"
# No trace store runs locally: empty means no export. Point it at a collector to get traces.
: "${OTEL_EXPORTER_OTLP_ENDPOINT:=}"
: "${Services__embed__grpc:=http://127.0.0.1:${grpc_port[embed]}}"
: "${Services__rank__grpc:=http://127.0.0.1:${grpc_port[rank]}}"
: "${Services__ingest__grpc:=http://127.0.0.1:${grpc_port[ingest]}}"
: "${Services__notify__grpc:=http://127.0.0.1:${grpc_port[notify]}}"
: "${Smtp__Host:=127.0.0.1}"
: "${Smtp__Port:=1025}"
: "${Smtp__Security:=None}"
: "${Smtp__Username:=}"
: "${Smtp__Password:=}"
: "${Smtp__From:=papers@pipeline.localhost}"
: "${Notify__PublicBaseUrl:=http://localhost:${http_port[notify]}}"
# Security__ApiKeys__0 and Tokens__SigningKey are set by load_secrets below.

log() { printf '%s\n' "$*"; }
die() { printf 'up.sh: %s\n' "$*" >&2; exit 1; }

# --- processes ---------------------------------------------------------------------------------------

# Succeeds when the pid file names a live process whose command line contains $2 (a pid can be
# reused by an unrelated process after a reboot or a crash).
alive() {
  local pidfile="$1" marker="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free_port() {
  if port_open "$1"; then
    die "port $1 ($2) is already in use by another process on 127.0.0.1; stop it first."
  fi
}

# HTTP status of GET http://127.0.0.1:<port><path>, or nothing when nobody answers.
http_status() {
  local port="$1" path="$2" status=""
  {
    exec 3<>"/dev/tcp/127.0.0.1/$port" &&
      printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3 &&
      IFS=' ' read -r -t 5 _ status _ <&3
  } 2>/dev/null || true
  exec 3<&- 2>/dev/null || true
  printf '%s' "$status"
}

# Starts a command detached from this shell (its own session, so closing the terminal leaves it
# running), output to a log, its pid to a pid file.
start_detached() {
  local pidfile="$1" logfile="$2"
  shift 2
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$logfile" 2>&1 </dev/null &
  local waited=0
  until [[ -s "$pidfile" ]]; do
    sleep 0.1
    waited=$((waited + 1))
    ((waited < 50)) || die "could not start $1 (see $logfile)"
  done
}

# Waits until "$@" succeeds, for at most $1 seconds, failing early when the pid file's process dies.
wait_until() {
  local seconds="$1" pidfile="$2" marker="$3" what="$4" logfile="$5"
  shift 5
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ! alive "$pidfile" "$marker"; then
      tail -n 40 "$logfile" >&2 || true
      die "$what stopped while starting (log: $logfile)"
    fi
    ((SECONDS < deadline)) || {
      tail -n 40 "$logfile" >&2 || true
      die "$what is not ready after ${seconds}s (log: $logfile); deploy/local/down.sh stops what this run started"
    }
    sleep 1
  done
}

# --- installation ------------------------------------------------------------------------------------

as_root() {
  if ((EUID == 0)); then "$@"; else sudo "$@"; fi
}

install_packages() {
  local -a missing=()
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  command -v npm >/dev/null || missing+=(nodejs npm)
  if ((${#missing[@]} > 0)); then
    log "Installing ${missing[*]} (apt-get) ..."
    ((EUID == 0)) || command -v sudo >/dev/null || die "installing ${missing[*]} needs root or sudo: install them and run up.sh again"
    # A fresh machine's unattended upgrades may hold dpkg's lock for minutes; a mirror may fail once.
    as_root apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 install -y "${missing[@]}"
    # The packages start the system's own broker and Redis where an init system runs, and enable
    # them at boot; this script runs private ones instead, and the system broker would hold port
    # 5672 (after the next reboot too, when up.sh would no longer know it installed it).
    local unit
    for unit in rabbitmq-server redis-server; do
      [[ " ${missing[*]} " == *" $unit "* ]] || continue
      # Stopped whatever "status" says: without root, the broker's status check can fail (it
      # cannot read the Erlang cookie) while the broker runs.
      if command -v service >/dev/null; then
        log "Stopping the system $unit that apt-get may have started ..."
        as_root service "$unit" stop >/dev/null 2>&1 || true
      fi
      if command -v systemctl >/dev/null; then
        as_root systemctl disable "$unit" >/dev/null 2>&1 || true
      elif command -v update-rc.d >/dev/null; then
        as_root update-rc.d "$unit" disable >/dev/null 2>&1 || true
      fi
    done
  fi

  if [[ ! -x "$tools/node_modules/.bin/maildev" ]]; then
    # maildev's SMTP and mail libraries (package-lock.json) need Node.js 20 or newer; Debian 12's is 18.
    local node_major
    node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    ((node_major >= 20)) || log "warning: maildev's packages declare Node.js 20 or newer and this machine has $(node -v 2>/dev/null || echo none); if maildev fails to start, install Node.js 20 (https://nodejs.org/en/download/package-manager)"
    log "Installing maildev into $tools (npm ci) ..."
    mkdir -p "$tools"
    cp "$here/package.json" "$here/package-lock.json" "$tools/"
    npm ci --prefix "$tools" --no-audit --no-fund
  fi
}

# --- secrets -----------------------------------------------------------------------------------------

random_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# The API key and the link-signing key: the caller's if given (Security__ApiKeys__0 or
# PIPELINE_API_KEY, Tokens__SigningKey or NOTIFY_TOKEN_KEY), else generated once into
# .run/secrets.env, which later runs reuse. The file always holds the keys in use (a caller's
# too), so sourcing it gives them. The file uses the names of deploy/.env.example.
secrets_file="$run/secrets.env"
load_secrets() {
  local api_key="${Security__ApiKeys__0:-${PIPELINE_API_KEY:-}}"
  local signing_key="${Tokens__SigningKey:-${NOTIFY_TOKEN_KEY:-}}"
  local stored_api="" stored_signing=""
  if [[ -f "$secrets_file" ]]; then
    stored_api="$(sed -n 's/^\(export \)\{0,1\}PIPELINE_API_KEY=//p' "$secrets_file" | tail -n 1)"
    stored_signing="$(sed -n 's/^\(export \)\{0,1\}NOTIFY_TOKEN_KEY=//p' "$secrets_file" | tail -n 1)"
  fi
  local generated=0
  [[ -n "$api_key" ]] || api_key="${stored_api:-}"
  [[ -n "$signing_key" ]] || signing_key="${stored_signing:-}"
  [[ -n "$api_key" ]] || { api_key="$(random_hex)"; generated=1; }
  [[ -n "$signing_key" ]] || { signing_key="$(random_hex)"; generated=1; }
  local key
  for key in "$api_key" "$signing_key"; do
    # Written to a file that is sourced: no quotes, spaces or shell characters.
    [[ "$key" =~ ^[A-Za-z0-9._+/=-]+$ ]] \
      || die "the API key and the signing key may hold only letters, digits and . _ + / = - (the caller's Security__ApiKeys__0 / Tokens__SigningKey, or the values in $secrets_file)"
  done
  if [[ "$api_key" != "$stored_api" || "$signing_key" != "$stored_signing" ]]; then
    (
      # A new file made under umask 077 and moved over the old one: never readable by others, and
      # a write that fails (a full disk) leaves the keys in use where they were.
      umask 077
      {
        printf '# Written by deploy/local/up.sh: the keys in use. Send PIPELINE_API_KEY as the x-api-key gRPC header.\n'
        printf 'PIPELINE_API_KEY=%s\nNOTIFY_TOKEN_KEY=%s\n' "$api_key" "$signing_key"
      } >"$secrets_file.tmp.$$"
      mv -f "$secrets_file.tmp.$$" "$secrets_file"
    ) || { rm -f "$secrets_file.tmp.$$"; die "could not write $secrets_file"; }
    if [[ $generated == 1 ]]; then
      log "Generated keys into $secrets_file"
    else
      log "Wrote the keys in use into $secrets_file"
    fi
  fi
  chmod 600 "$secrets_file"
  if [[ -n "${Security__ApiKeys__0:-${PIPELINE_API_KEY:-}}" ]]; then
    api_key_source="the caller's environment (also in ${secrets_file#"$root"/})"
  else
    api_key_source="${secrets_file#"$root"/} (PIPELINE_API_KEY)"
  fi
  Security__ApiKeys__0="$api_key"
  Tokens__SigningKey="$signing_key"
}

# --- infrastructure ----------------------------------------------------------------------------------

rabbitmq_dir="$run/rabbitmq"
rabbitmq_pidfile="$pids/rabbitmq.pid"

# rabbitmqctl for the private node: its Erlang cookie lives in $rabbitmq_dir, used as HOME.
rabbitmqctl_private() {
  HOME="$rabbitmq_dir" /usr/lib/rabbitmq/bin/rabbitmqctl -n "$rabbitmq_node" "$@"
}

# The Erlang distribution port, used only by rabbitmqctl (which finds it through epmd): the first
# free one from 25672 on, so that another broker on this machine does not stop this one.
free_dist_port() {
  local port
  for ((port = 25672; port < 25772; port++)); do
    port_open "$port" || { echo "$port"; return; }
  done
  die "no free port for the Erlang distribution in 25672-25771"
}

start_rabbitmq() {
  if alive "$rabbitmq_pidfile" "$rabbitmq_dir"; then
    log "RabbitMQ  already running ($rabbitmq_node, pid $(<"$rabbitmq_pidfile"))"
    return
  fi
  require_free_port "$rabbitmq_port" RabbitMQ
  mkdir -p "$rabbitmq_dir/mnesia" "$rabbitmq_dir/log"
  rm -f "$rabbitmq_pidfile"

  local plugins="[]."
  if [[ "${RABBITMQ_MANAGEMENT:-1}" == 1 ]] && ! port_open "$rabbitmq_management_port"; then
    plugins="[rabbitmq_management]."
  fi
  printf '%s\n' "$plugins" >"$rabbitmq_dir/enabled_plugins"
  cat >"$rabbitmq_dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$rabbitmq_port
management.tcp.ip = 127.0.0.1
management.tcp.port = $rabbitmq_management_port
log.file.level = info
CONF
  # /etc/rabbitmq/rabbitmq-env.conf belongs to the system node: read an empty one instead.
  : >"$rabbitmq_dir/rabbitmq-env.conf"

  # Epmd (the Erlang port mapper) is started by the first Erlang node; remember whether that is
  # this one, so down.sh stops it only then.
  if ! port_open 4369; then
    touch "$pids/epmd.started-by-up"
  fi

  local dist_port="${RABBITMQ_DIST_PORT:-}"
  [[ -n "$dist_port" ]] || dist_port="$(free_dist_port)"

  # rabbitmqctl for this node, for people: the node's Erlang cookie is in $rabbitmq_dir.
  printf '#!/bin/sh\n# rabbitmqctl for the private node of deploy/local/up.sh.\nHOME="%s" exec /usr/lib/rabbitmq/bin/rabbitmqctl -n %s "$@"\n' \
    "$rabbitmq_dir" "$rabbitmq_node" >"$run/rabbitmqctl"
  chmod +x "$run/rabbitmqctl"
  # And rabbitmq-plugins, which also needs the node's list of enabled plugins.
  printf '#!/bin/sh\n# rabbitmq-plugins for the private node of deploy/local/up.sh.\nHOME="%s" RABBITMQ_ENABLED_PLUGINS_FILE="%s" exec /usr/lib/rabbitmq/bin/rabbitmq-plugins -n %s "$@"\n' \
    "$rabbitmq_dir" "$rabbitmq_dir/enabled_plugins" "$rabbitmq_node" >"$run/rabbitmq-plugins"
  chmod +x "$run/rabbitmq-plugins"

  log "Starting RabbitMQ ($rabbitmq_node on 127.0.0.1:$rabbitmq_port) ..."
  # Run as root with its state under .run, not through /usr/sbin/rabbitmq-server (which switches
  # to the rabbitmq user and the system node's directories). The node writes its own pid file.
  local launcher="$pids/rabbitmq-launcher.pid"
  (
    cd "$rabbitmq_dir"
    export HOME="$rabbitmq_dir" \
      RABBITMQ_CONF_ENV_FILE="$rabbitmq_dir/rabbitmq-env.conf" \
      RABBITMQ_NODENAME="$rabbitmq_node" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_NODE_PORT="$rabbitmq_port" \
      RABBITMQ_DIST_PORT="$dist_port" \
      RABBITMQ_CONFIG_FILE="$rabbitmq_dir/rabbitmq.conf" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$rabbitmq_dir/enabled_plugins" \
      RABBITMQ_MNESIA_BASE="$rabbitmq_dir/mnesia" \
      RABBITMQ_LOG_BASE="$rabbitmq_dir/log" \
      RABBITMQ_PID_FILE="$rabbitmq_pidfile" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      ERL_EPMD_ADDRESS=127.0.0.1 \
      ERL_CRASH_DUMP="$rabbitmq_dir/erl_crash.dump"
    start_detached "$launcher" "$logs/rabbitmq.log" /usr/lib/rabbitmq/bin/rabbitmq-server
  )
  # First the node's pid file (failing fast when the node dies while booting), then its applications.
  wait_until 60 "$launcher" rabbitmq-server RabbitMQ "$logs/rabbitmq.log" test -s "$rabbitmq_pidfile"
  if ! rabbitmqctl_private wait --timeout 120 "$rabbitmq_pidfile" >>"$logs/rabbitmq.log" 2>&1; then
    tail -n 40 "$logs/rabbitmq.log" >&2 || true
    die "RabbitMQ did not start (logs: $logs/rabbitmq.log and $rabbitmq_dir/log)"
  fi
  wait_until 30 "$rabbitmq_pidfile" "$rabbitmq_dir" RabbitMQ "$logs/rabbitmq.log" port_open "$rabbitmq_port"
  log "RabbitMQ  ready (pid $(<"$rabbitmq_pidfile"))"
}

redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

start_redis() {
  local name="$1" port="${redis_port[$1]}"
  local pidfile="$pids/redis-$name.pid" dir="$run/redis/$name"
  if alive "$pidfile" "redis-server 127.0.0.1:$port"; then
    log "Redis     $name already running (127.0.0.1:$port)"
    return
  fi
  require_free_port "$port" "redis-$name"
  mkdir -p "$dir"
  rm -f "$pidfile"
  # Notify's delivery records are what stops an email going out twice: on disk before Redis answers.
  local fsync=everysec
  [[ "$name" == notify ]] && fsync=always
  start_detached "$pidfile" "$logs/redis-$name.log" \
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
    --appendonly yes --appendfsync "$fsync" --daemonize no
  wait_until 30 "$pidfile" "redis-server" "redis-$name" "$logs/redis-$name.log" redis_ready "$port"
  log "Redis     $name ready (127.0.0.1:$port, data in ${dir#"$root"/})"
}

maildev_ready() { port_open "$1" && port_open "$maildev_web_port"; }

start_maildev() {
  local pidfile="$pids/maildev.pid"
  # The inbox listens where notify sends, when notify sends to this machine.
  local smtp_port=1025
  case "$Smtp__Host" in 127.0.0.1 | localhost) smtp_port="$Smtp__Port" ;; esac
  if alive "$pidfile" maildev; then
    local running_port
    running_port="$(cat "$run/maildev.smtp-port" 2>/dev/null || echo "$smtp_port")"
    log "maildev   already running (SMTP 127.0.0.1:$running_port, web http://127.0.0.1:$maildev_web_port)"
    if [[ "$running_port" != "$smtp_port" ]]; then
      log "          (it listens on $running_port, not $smtp_port: deploy/local/down.sh first to change it)"
    fi
    return
  fi
  require_free_port "$smtp_port" "maildev SMTP"
  require_free_port "$maildev_web_port" "maildev web"
  rm -f "$pidfile"
  printf '%s\n' "$smtp_port" >"$run/maildev.smtp-port"
  start_detached "$pidfile" "$logs/maildev.log" \
    "$tools/node_modules/.bin/maildev" --ip 127.0.0.1 --web-ip 127.0.0.1 \
    --smtp "$smtp_port" --web "$maildev_web_port"
  wait_until 30 "$pidfile" maildev maildev "$logs/maildev.log" maildev_ready "$smtp_port"
  log "maildev   ready (SMTP 127.0.0.1:$smtp_port, web http://127.0.0.1:$maildev_web_port)"
}

# --- services ----------------------------------------------------------------------------------------

# The environment of one service: the shared settings above and its own ports and Redis.
service_environment() {
  local name="$1"
  printf '%s\n' \
    "OTEL_SERVICE_NAME=$name" \
    "OTEL_EXPORTER_OTLP_ENDPOINT=$OTEL_EXPORTER_OTLP_ENDPOINT" \
    "ConnectionStrings__rabbitmq=$ConnectionStrings__rabbitmq" \
    "ConnectionStrings__redis=127.0.0.1:${redis_port[$name]}" \
    "Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:${grpc_port[$name]}" \
    "Kestrel__Endpoints__Grpc__Protocols=Http2" \
    "Kestrel__Endpoints__Http__Url=http://127.0.0.1:${http_port[$name]}" \
    "Kestrel__Endpoints__Http__Protocols=Http1"
  case "$name" in
    ingest)
      printf '%s\n' "Security__ApiKeys__0=$Security__ApiKeys__0"
      ;;
    rank)
      printf '%s\n' \
        "Services__embed__grpc=$Services__embed__grpc" \
        "Services__ingest__grpc=$Services__ingest__grpc" \
        "Services__notify__grpc=$Services__notify__grpc" \
        "Security__ApiKeys__0=$Security__ApiKeys__0"
      ;;
    notify)
      printf '%s\n' \
        "Services__rank__grpc=$Services__rank__grpc" \
        "Security__ApiKeys__0=$Security__ApiKeys__0" \
        "Tokens__SigningKey=$Tokens__SigningKey" \
        "Notify__PublicBaseUrl=$Notify__PublicBaseUrl" \
        "Smtp__Host=$Smtp__Host" \
        "Smtp__Port=$Smtp__Port" \
        "Smtp__Security=$Smtp__Security" \
        "Smtp__Username=$Smtp__Username" \
        "Smtp__Password=$Smtp__Password" \
        "Smtp__From=$Smtp__From"
      ;;
  esac
}

service_ready() { [[ "$(http_status "$1" /health/ready)" == 200 ]]; }

start_service() {
  local name="$1"
  local dll="$root/services/${assembly[$name]}/bin/Release/net10.0/${assembly[$name]}.dll"
  local pidfile="$pids/$name.pid" logfile="$logs/$name.log"
  if alive "$pidfile" "${assembly[$name]}.dll"; then
    log "$(printf '%-9s' "$name") already running (pid $(<"$pidfile")); waiting for it to be ready"
    # Left by an earlier run that gave up on it: running is not ready.
    wait_until "${SERVICE_START_TIMEOUT:-180}" "$pidfile" "${assembly[$name]}.dll" "$name" "$logfile" \
      service_ready "${http_port[$name]}"
    return
  fi
  [[ -f "$dll" ]] || die "$dll is missing: build with 'dotnet build -c Release Pipeline.sln' (or run without SKIP_BUILD=1)"
  require_free_port "${grpc_port[$name]}" "$name gRPC"
  require_free_port "${http_port[$name]}" "$name HTTP"
  rm -f "$pidfile"
  local -a environment
  mapfile -t environment < <(service_environment "$name")
  log "Starting $name ..."
  (
    # Exported rather than passed to env(1), so that no key shows on a command line. The working
    # directory is the content root, where the service finds its appsettings.json.
    export "${environment[@]}"
    cd "$(dirname "$dll")"
    # Under supervise.sh, which starts the service again when it exits with 75 (its consumer
    # watchdog found a consumer the broker lost), as compose's restart policy does.
    start_detached "$pidfile" "$logfile" "$here/supervise.sh" dotnet "$dll"
  )
  wait_until "${SERVICE_START_TIMEOUT:-180}" "$pidfile" "${assembly[$name]}.dll" "$name" "$logfile" \
    service_ready "${http_port[$name]}"
  log "$(printf '%-9s' "$name") ready (gRPC 127.0.0.1:${grpc_port[$name]}, http://127.0.0.1:${http_port[$name]}/health/ready)"
}

# --- main --------------------------------------------------------------------------------------------

mkdir -p "$logs" "$pids"
if [[ "${INFRA_ONLY:-0}" != 1 ]] && ! command -v dotnet >/dev/null; then
  die "dotnet is not on PATH: install the .NET 10 SDK (global.json), or run with INFRA_ONLY=1"
fi
install_packages
load_secrets

running=()
for name in "${start_order[@]}"; do
  alive "$pids/$name.pid" "${assembly[$name]}.dll" && running+=("$name")
done
if ((${#running[@]} > 0)) && [[ "${INFRA_ONLY:-0}" != 1 && "${SKIP_BUILD:-0}" != 1 ]]; then
  # Building would overwrite the files the running services loaded, and they would go on as before.
  log "Not building: ${running[*]} already running (stop with deploy/local/down.sh to run a new build)"
elif [[ "${INFRA_ONLY:-0}" != 1 && "${SKIP_BUILD:-0}" != 1 ]]; then
  log "Building (dotnet build -c Release Pipeline.sln) ..."
  dotnet build "$root/Pipeline.sln" -c Release -nologo -v minimal
fi

start_rabbitmq
for name in "${start_order[@]}"; do start_redis "$name"; done
start_maildev
if [[ "${INFRA_ONLY:-0}" != 1 ]]; then
  for name in "${start_order[@]}"; do start_service "$name"; done
fi

rel() { printf '%s' "${1#"$root"/}"; }
scope=""
[[ "${INFRA_ONLY:-0}" != 1 ]] || scope=" (infrastructure only: INFRA_ONLY=1)"
management="no management plugin"
if grep -q management "$rabbitmq_dir/enabled_plugins" 2>/dev/null; then
  management="management http://127.0.0.1:$rabbitmq_management_port"
fi

printf '\nThe pipeline is up on 127.0.0.1%s.\n' "$scope"
if [[ "${INFRA_ONLY:-0}" != 1 ]]; then
  printf '  %-10s %-16s %s\n' service "gRPC (h2c)" "health (HTTP)"
  for name in ingest embed rank notify; do
    printf '  %-10s %-16s http://127.0.0.1:%s/health/ready\n' "$name" "127.0.0.1:${grpc_port[$name]}" "${http_port[$name]}"
  done
fi
cat <<SUMMARY
  RabbitMQ   amqp://127.0.0.1:$rabbitmq_port (guest/guest), $management
             $(rel "$run")/rabbitmqctl list_queues
  Redis      127.0.0.1:${redis_port[ingest]}-${redis_port[notify]} (ingest, embed, rank, notify; data in $(rel "$run")/redis)
  Mail inbox http://127.0.0.1:$maildev_web_port (notify sends to $Smtp__Host:$Smtp__Port)
  API key    in $api_key_source; send it as the x-api-key gRPC header
  Logs       $(rel "$logs")/
  Stop with  deploy/local/down.sh
SUMMARY
