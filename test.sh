#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what the tests need
# (RabbitMQ and Redis from Debian's packages; the .NET SDK is expected on PATH), builds once in
# Release, runs all test projects, and ends with one summary line "Tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh needs the .NET 10 SDK on PATH (global.json names the version); Debian packages do not carry it." >&2
  echo "Install it first: https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
  exit 1
fi

need=()
# Debian puts rabbitmq-server in /usr/sbin, which a normal user's PATH leaves out.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# notify's digest test renders the email in a real browser.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The deploy tests lint deploy/local/*.sh and let docker-compose parse the compose file (no engine needed).
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
# The tests send signals with the kill program (not the shell's builtin): procps, not in minimal images.
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing ${need[*]} from Debian's packages"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "test.sh must install ${need[*]} and needs root or sudo for it; install them and run it again." >&2
    exit 1
  fi
  # A fresh machine's unattended upgrades may hold dpkg's lock for minutes; a mirror may fail once.
  apt_options=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=5)
  "${as_root[@]}" apt-get "${apt_options[@]}" update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The packages start the system's own broker and Redis where an init system runs, and enable them
  # at boot. The tests start their own on free ports and need neither; left running, the system
  # broker would hold port 5672, which deploy/local/up.sh needs. Stopped and disabled, as up.sh does.
  for unit in rabbitmq-server redis-server; do
    [[ " ${need[*]} " == *" $unit "* ]] || continue
    # Stopped whatever "status" says: without root, the broker's status check can fail (it cannot
    # read the Erlang cookie) while the broker runs.
    if command -v service >/dev/null 2>&1; then
      "${as_root[@]}" service "$unit" stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1; then
      "${as_root[@]}" systemctl disable "$unit" >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null 2>&1; then
      "${as_root[@]}" update-rc.d "$unit" disable >/dev/null 2>&1 || true
    fi
  done
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# A package feed that fails once must not fail the run: the restore is tried three times.
for attempt in 1 2 3; do
  if dotnet restore Pipeline.sln -nologo -v quiet; then
    break
  fi
  if [ "$attempt" -eq 3 ]; then
    echo "dotnet restore failed three times." >&2
    exit 1
  fi
  echo "dotnet restore failed (attempt $attempt); trying again in 15 s." >&2
  sleep 15
done
dotnet build Pipeline.sln -c Release -nologo --no-restore -clp:ErrorsOnly

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# epmd (Erlang's port mapper) is started by the test brokers and outlives them by design; one this
# run started is stopped at the end once no Erlang node uses it, so the run leaves no process behind.
epmd_before=0
if command -v epmd >/dev/null 2>&1 && epmd -names >/dev/null 2>&1; then
  epmd_before=1
fi
status=0
# A test that hangs must not hold CI until its deadline: after 8 minutes on one test the test host
# is stopped and the test named (--blame-hang). A test's own waits are at most 3 minutes, but the
# first test of a class also pays for its fixture (four services started, 90 s each at most) on a
# busy 2-core machine. The whole run is bounded too.
timeout --kill-after=60s 40m \
  dotnet test Pipeline.sln -c Release --no-build -nologo \
    --blame-hang-timeout 8m --blame-hang-dump-type none "$@" 2>&1 | tee "$log" || status=$?

if [ "$epmd_before" -eq 0 ] && command -v epmd >/dev/null 2>&1 && epmd -names >/dev/null 2>&1 \
  && ! epmd -names 2>/dev/null | grep -q '^name '; then
  epmd -kill >/dev/null 2>&1 || true
fi

# One line that any CI reads: the sum over all test assemblies (0 where a run printed no summary).
sum() { { grep -oE "$1: +[0-9]+" "$log" || true; } | awk '{s+=$2} END {print s+0}'; }
passed=$(sum Passed)
failed=$(sum Failed)
skipped=$(sum Skipped)
echo "Tests: $passed passed, $failed failed, $skipped skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "No test ran." >&2
  exit 1
fi
exit "$status"
