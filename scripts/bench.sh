#!/usr/bin/env bash
# Relay vs the reference relay, every scenario of issue 5 on fresh servers, on 127.0.0.1.
# Builds Release, runs `Relay.Bench --vs` (and the chart with --chart), writes bench/results/.
#   scripts/bench.sh              the comparison: bench/results/vs.json (about 5 minutes)
#   scripts/bench.sh --chart      also fan-out and p99 at 10..1000 receivers: bench/results/fanout.png
#   scripts/bench.sh --smoke      seconds-long check that the bench still works (what CI runs)
# Needs dotnet, node and npm (ws@8 is installed once into a temp folder for the reference relay).
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
