#!/usr/bin/env bash
# Measures jetsam's checker against plain Porcupine, side by side, on the
# same generated KV histories: read-and-decode time (the baseline), then
# each checker's time and peak memory, each in a process of its own.
#
#   bash scripts/checkbench.sh [porcupine timeout, default 120s]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
timeout=${1:-120s}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
go build -o "$tmp/checkbench" ./scripts/checkbench
bench=$tmp/checkbench

echo "generating histories..." >&2
$bench gen -ops 1000000 -keys 1000 -clients 32 -info 0.05 -out "$tmp/1m.jsonl"
$bench gen -ops 1000000 -keys 1000 -clients 32 -info 0.05 -stale -out "$tmp/1m-stale.jsonl"
$bench gen -ops 100000 -keys 10 -clients 32 -info 0.05 -stale -out "$tmp/100k-hot-stale.jsonl"

echo "| history | decode (s) | jetsam (s) | jetsam / decode | jetsam peak (MB) | jetsam verdict | Porcupine (s) | Porcupine peak (MB) | Porcupine verdict |"
echo "|---|---|---|---|---|---|---|---|---|"
for h in 1m 1m-stale 100k-hot-stale; do
  read -r _ dt _ _ < <($bench decode "$tmp/$h.jsonl")
  read -r _ jt jm jv < <($bench jetsam -timeout 5m "$tmp/$h.jsonl")
  read -r _ pt pm pv < <($bench porcupine -timeout "$timeout" "$tmp/$h.jsonl")
  ratio=$(awk "BEGIN { printf \"%.2f\", $jt / $dt }")
  echo "| $h | $dt | $jt | $ratio | $jm | $jv | $pt | $pm | $pv |"
done
echo
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)."
