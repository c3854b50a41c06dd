#!/usr/bin/env bash
# Runs Relay's whole test suite on this machine: installs what the tests need (when run as root on a
# Debian-like machine), builds, runs every test project, and ends with a line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v nginx >/dev/null 2>&1 || need_pkgs+=(nginx)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if ((${#need_pkgs[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null \
      || { echo "apt-get install ${need_pkgs[*]} failed"; exit 1; }
  else
    echo "Missing packages (install them, e.g. apt-get install ${need_pkgs[*]}): ${need_pkgs[*]}"
    exit 1
  fi
fi
# Debian's postgresql package may start a cluster of its own; the tests start throwaway servers instead.

dotnet build Relay.sln -c Release -nologo -clp:ErrorsOnly || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
# Projects run one after another: several of them start real clusters of processes, and the machine has two cores.
dotnet test Relay.sln -c Release --no-build -m:1 --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
rm -f "$log"

# The benchmark's seconds-long smoke run: it still drives a real Relay through every scenario (no timings checked).
if ./scripts/bench.sh --smoke; then
  passed=$((passed + 1))
else
  echo "bench smoke run failed"
  failed=$((failed + 1)); status=1
fi
# The JS client (clients/js: node's test runner against real Gateway processes) and the gift app's browser tests
# (examples/gifts: the Vite build in Debian's Chromium), each from its committed lock file; every test counts.
run_node_tests() {
  local js_log code js_passed js_failed
  js_log=$(mktemp)
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error && npm test) 2>&1 | tee "$js_log"
  code=${PIPESTATUS[0]}
  js_passed=$(grep -Eo '^# pass [0-9]+' "$js_log" | awk '{s+=$3} END {print s+0}')
  js_failed=$(grep -Eo '^# fail [0-9]+' "$js_log" | awk '{s+=$3} END {print s+0}')
  if [ "$code" -ne 0 ] && [ "$js_failed" -eq 0 ]; then
    echo "$1: npm ci, the build or the test run failed"
    js_failed=1
  fi
  [ "$code" -eq 0 ] || status=1
  passed=$((passed + js_passed)); failed=$((failed + js_failed))
  rm -f "$js_log"
}
run_node_tests clients/js
run_node_tests examples/gifts

echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
