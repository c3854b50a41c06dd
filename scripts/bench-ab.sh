#!/usr/bin/env bash
# Relay before and after a change, side by side in one run: the Gateway built at REV (default: main's first parent,
# HEAD~1) and the working tree's, each scenario on a fresh node with a fresh SQLite journal, alternating
# before/after ROUNDS times so the machine's noise falls on both. Prints one JSON line per run, then a summary.
#   scripts/bench-ab.sh [REV] [SCENARIOS] [ROUNDS]      e.g. scripts/bench-ab.sh ecacdae fanout,latency,connections 2
# BEFORE_ENV / AFTER_ENV add environment variables to one side's node, so REV=HEAD compares a runtime setting alone:
#   AFTER_ENV="DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0" scripts/bench-ab.sh HEAD latency 3
# Only 127.0.0.1; both nodes run with the shipped JIT and Warning logging, as scripts/bench.sh runs Relay.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD~1}
scenarios=${2:-fanout,latency,connections}
rounds=${3:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-ab.XXXXXX")
nodes=()
cleanup() {
  for pid in "${nodes[@]}"; do kill "$pid" 2>/dev/null || true; done
  git worktree remove --force "$work/before" >/dev/null 2>&1 || true
}
trap cleanup EXIT

git worktree add --detach -q "$work/before" "$rev"
dotnet build "$work/before/src/Gateway" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
dotnet build src/Gateway -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
dotnet build bench/Relay.Bench/Relay.Bench.csproj -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
bench=bench/Relay.Bench/bin/Release/net10.0/Relay.Bench.dll
out="$work/ab.jsonl"
# Below the kernel's ephemeral range (32768 on), where the bench's own client sockets take their ports: a node's
# port taken by one of them failed its start.
port=$((20000 + RANDOM % 10000))

for ((round = 1; round <= rounds; round++)); do
  for scenario in ${scenarios//,/ }; do
    for side in before after; do
      root=$PWD
      side_env=${AFTER_ENV:-}
      if [ "$side" = before ]; then root="$work/before"; side_env=${BEFORE_ENV:-}; fi
      dir=$(mktemp -d "$work/$side-XXXX")
      port=$((port + 2))
      (cd "$root/src/Gateway/bin/Release/net10.0" && exec env Logging__LogLevel__Default=Warning $side_env dotnet Relay.Gateway.dll \
        --urls "http://127.0.0.1:$port" --Relay:Akka:Port=0 "--Relay:Journal:ConnectionString=Data Source=$dir/relay.db") \
        >"$dir/node.log" 2>&1 &
      pid=$!
      nodes+=("$pid")
      ready=0
      for _ in $(seq 1 240); do
        if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then ready=1; break; fi
        sleep 0.5
      done
      [ "$ready" = 1 ] || { echo "the $side node did not get ready:"; tail -20 "$dir/node.log"; exit 1; }
      # The 1-minute load average before and after each run: other work on the machine moves every figure.
      load=$(cut -d' ' -f1 /proc/loadavg)
      dotnet "$bench" --url "ws://127.0.0.1:$port/" --pid "$pid" --scenario "$scenario" 2>>"$dir/bench.err" >"$dir/result.jsonl" || true
      load_after=$(cut -d' ' -f1 /proc/loadavg)
      sed "s/^/{\"side\":\"$side\",\"round\":$round,\"loadAvgBefore\":$load,\"loadAvgAfter\":$load_after,\"result\":/; s/\$/}/" "$dir/result.jsonl" | tee -a "$out"
      kill "$pid"
      wait "$pid" 2>/dev/null || true
    done
  done
done

python3 - "$out" <<'EOF'
import json, sys
figures = ['deliveriesPerSec', 'p50Ms', 'p99Ms', 'serverRssKb', 'kbPerConnection', 'serverCpuMsPerConnect', 'patchToAllMs', 'ingestPerSec', 'replayPerSec', 'firstFrameMs', 'secondFirstFrameMs']
rows = {}
for line in open(sys.argv[1]):
    run = json.loads(line)
    result = run['result']
    sides = rows.setdefault(result.get('scenario', '?'), {})
    sides.setdefault(run['side'], []).append(result)
    sides.setdefault(run['side'] + ' runs', []).append(run)
for scenario, sides in rows.items():
    for side in ('before', 'after'):
        runs = sides.get(side, [])
        shown = {f: [r[f] for r in runs if f in r] for f in figures}
        failed = [r.get('error') for r in runs if not r.get('ok')]
        loads = [f"{run['loadAvgBefore']}-{run['loadAvgAfter']}" for run in sides.get(side + ' runs', [])]
        print(f"{scenario:12} {side:6} " + "  ".join(f"{f} {shown[f]}" for f in figures if shown[f]) + f"  load {loads}" + (f"  FAILED {failed}" if failed else ""))
EOF
