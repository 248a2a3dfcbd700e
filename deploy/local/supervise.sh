#!/usr/bin/env bash
# Runs a command and starts it again whenever it exits with 75 (EX_TEMPFAIL): the code with which a
# service's consumer watchdog asks to be restarted (docs/operations.md). Any other exit ends the
# loop with that code (compose's `restart: unless-stopped` restarts after any exit; here a service
# that fails at start or crashes stays down, and its log says why). SIGTERM or SIGINT
# (deploy/local/down.sh) is passed on to the command, and the loop ends once it has exited.
#
#   deploy/local/supervise.sh dotnet services/Pipeline.Rank/bin/Release/net10.0/Pipeline.Rank.dll
set -euo pipefail

[[ $# -gt 0 ]] || { echo "usage: supervise.sh command [argument ...]" >&2; exit 2; }

child=""
stop() {
  # Every background job of this shell, not only "$child": a signal that arrives between starting
  # the command and `child=$!` runs this trap with child still empty, and the command would
  # outlive its supervisor.
  local running
  running=$(jobs -p)
  if [[ -n "$running" ]]; then
    # shellcheck disable=SC2086 # one word per pid
    kill -TERM $running 2>/dev/null || true
    wait || true
  fi
  exit 143
}
trap stop TERM INT

while :; do
  "$@" </dev/null &
  child=$!
  code=0
  wait "$child" || code=$?
  child=""
  if [[ $code -ne 75 ]]; then
    exit "$code"
  fi
  echo "supervise.sh: $1 exited with 75 (a lost consumer); starting it again" >&2
  sleep 1
done
