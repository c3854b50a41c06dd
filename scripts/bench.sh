#!/usr/bin/env bash
# Relay vs the seed relay (Node.js) and a SignalR hub relay, every scenario on fresh servers, on 127.0.0.1.
# Builds Release (the bench and bench/SignalRRelay), runs `Relay.Bench --vs` (and the chart with --chart),
# writes bench/results/.
#   scripts/bench.sh              the comparison: bench/results/vs.json (about 8 minutes)
#   scripts/bench.sh --chart      also fan-out and p99 at 10..1000 receivers: bench/results/fanout.png
#   scripts/bench.sh --smoke      a check that the bench still works against every server, about a minute (CI)
# Needs dotnet, node and npm (ws@8 is installed once into a temp folder for the seed relay by a full run;
# the smoke run installs nothing and reports the seed relay skipped where ws@8 is not installed yet).
set -euo pipefail
cd "$(dirname "$0")/.."
results=bench/results
mkdir -p "$results"
dotnet build bench/Relay.Bench/Relay.Bench.csproj -c Release -nologo -v q
bench=(dotnet bench/Relay.Bench/bin/Release/net10.0/Relay.Bench.dll)

case "${1:-}" in
  --smoke)
    exec "${bench[@]}" --smoke ;;
  --chart)
    "${bench[@]}" --vs --results "$results" | tee "$results/vs.jsonl"
    "${bench[@]}" --chart --results "$results" | tee "$results/fanout-chart.jsonl" ;;
  "")
    "${bench[@]}" --vs --results "$results" | tee "$results/vs.jsonl" ;;
  *)
    # Anything else goes to the bench as options of --vs, e.g. --scenario fanout --receivers 200.
    "${bench[@]}" --vs --results "$results" "$@" | tee "$results/vs.jsonl" ;;
esac
