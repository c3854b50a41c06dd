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
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need_pkgs+=(iptables)
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

# Each part writes its log and a line "N passed, N failed" into $results; the sums are the suite's.
results=$(mktemp -d)
status=0

# The npm packages of the JS client, the gift app, the Kubernetes manifests' check and the browser checks
# (tests/browser, which the .NET specs run), each from its committed lock file, install (network and disk) while
# the build compiles; each writes its log and exit code for run_node_tests. (The specs install tests/browser
# themselves where it is missing, tests/Relay.Testing/NpmPackages.cs; installing it here keeps that off their clock.)
npm_install() {
  local name
  name=$(basename "$1")
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) >"$results/$name.log" 2>&1
  echo $? >"$results/$name.npm"
}
npm_install clients/js &
npm_install examples/gifts &
npm_install tests/browser &
npm_install tests/kubernetes &

dotnet build Relay.sln -c Release -nologo -clp:ErrorsOnly || { wait; echo "0 passed, 1 failed"; exit 1; }
wait
[ "$(cat "$results/browser.npm")" = 0 ] || { echo "npm ci in tests/browser failed:"; cat "$results/browser.log"; }

# Runs one .NET test project (its tests that match the filter $3, if given) into the log named $2 (default: the
# project's name); counts its tests.
run_dotnet_tests() {
  local log="$results/${2:-$1}.log" code
  dotnet test "tests/$1" -c Release --no-build --logger "console;verbosity=normal" ${3:+--filter "$3"} >"$log" 2>&1
  code=$?
  local p f
  p=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  f=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  if [ "$code" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$p $f" >"$results/${2:-$1}.count"
}

# The JS client (clients/js: node's test runner against real Gateway processes) and the gift app's browser tests
# (examples/gifts: the Vite build in Debian's Chromium) and the offline check of deploy/kubernetes
# (tests/kubernetes), on the packages npm_install put in; every test counts.
run_node_tests() {
  local name log code p f
  name=$(basename "$1")
  log="$results/$name.log"
  code=$(cat "$results/$name.npm")
  if [ "$code" -eq 0 ]; then
    (cd "$1" && npm test) >>"$log" 2>&1
    code=$?
  fi
  p=$(grep -Eo '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  f=$(grep -Eo '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  if [ "$code" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$1: npm ci, the build or the test run failed" >>"$log"
    f=1
  fi
  echo "$p $f" >"$results/$name.count"
}

# The benchmark's smoke run: it still drives a real Relay through every scenario (no timings checked).
run_bench_smoke() {
  if ./scripts/bench.sh --smoke >"$results/bench.log" 2>&1; then
    echo "1 0" >"$results/bench.count"
  else
    echo "bench smoke run failed" >>"$results/bench.log"
    echo "0 1" >"$results/bench.count"
  fi
}

show() {
  for part in "$@"; do
    echo "===== $part"
    cat "$results/$part.log"
  done
}

# Two phases. First, side by side, the single-node projects (they mostly wait on the processes they start), the
# cluster project's specs that start no cluster (the compose file and the Kubernetes manifests; one node's journal
# writes), and, one after another, the JS client's, the gift app's and the manifests' tests and the bench smoke run (none of them checks a timing; the gift
# app's rebuild the JS client's dist/, which the JS client's tests load; the bench smoke, the heaviest, starts when
# the rest is nearly done: beside the actor specs it took the load to 70 and timed out a node's recovery). Then
# the rest of the cluster project (three-node clusters, failover budgets) alone: two cores carry one cluster at a
# time. The processes the tests start take their ports below the kernel's ephemeral range and reserve them
# across test processes (tests/Relay.Testing/FreePort.cs, clients/js/test/gateway.mjs), so parts running side by
# side cannot take each other's ports.
single_node="ComposeFileSpecs KubernetesManifestSpecs JournalWriteFailureSpecs"
single_node_filter=$(printf 'FullyQualifiedName~%s|' $single_node); single_node_filter=${single_node_filter%|}
cluster_filter=$(printf 'FullyQualifiedName!~%s&' $single_node); cluster_filter=${cluster_filter%&}
run_dotnet_tests Relay.Actors.Tests &
run_dotnet_tests Relay.Gateway.Tests &
run_dotnet_tests Relay.Integration.Tests &
run_dotnet_tests Relay.Operations.Tests &
run_dotnet_tests Relay.Cluster.Tests Relay.Cluster.Tests.single-node "$single_node_filter" &
(run_node_tests clients/js; run_node_tests examples/gifts; run_node_tests tests/kubernetes; run_bench_smoke) &
wait
show Relay.Actors.Tests Relay.Gateway.Tests Relay.Integration.Tests Relay.Operations.Tests Relay.Cluster.Tests.single-node js gifts kubernetes bench
run_dotnet_tests Relay.Cluster.Tests Relay.Cluster.Tests "$cluster_filter"
show Relay.Cluster.Tests

passed=0
failed=0
for count in "$results"/*.count; do
  read -r p f <"$count"
  passed=$((passed + p)); failed=$((failed + f))
  echo "$(basename "$count" .count): $p passed, $f failed"
done
expected=10
if [ "$(ls "$results"/*.count | wc -l)" -ne "$expected" ]; then
  echo "a part of the suite did not report"
  failed=$((failed + 1))
fi
rm -rf "$results"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
