#!/usr/bin/env bash
# Measures jetsam's checker against plain Porcupine, side by side, on the
# same generated KV histories: read-and-decode time (the baseline), then
# each checker's time and peak memory, each in a process of its own. Then
# the time to generate and to check (as jetsam check --format jepsen does)
# Jepsen EDN key-value histories on hot keys.
#
#   bash scripts/checkbench.sh [porcupine timeout, default 120s]
#   bash scripts/checkbench.sh jepsen      # the Jepsen histories only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
timeout=${1:-120s}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
go build -o "$tmp/checkbench" ./scripts/checkbench
bench=$tmp/checkbench

jsonl() {
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
}

jepsen() {
  echo "Jepsen EDN key-value histories: 20,000 ops on 10 keys by 32 clients, 5% of the writes indeterminate; puts only, or half appends; valid, or with one planted stale read; checked with a 60s timeout."
  echo
  echo "| history | generate (s) | check (s) | check peak (MB) | verdict |"
  echo "|---|---|---|---|---|"
  for h in puts puts-stale appends appends-stale; do
    args=(-ops 20000 -keys 10 -clients 32 -info 0.05 -out "$tmp/$h.edn")
    [[ $h == appends* ]] && args+=(-append 0.5)
    [[ $h == *-stale ]] && args+=(-stale)
    began=$(date +%s.%N)
    $bench gen-jepsen "${args[@]}"
    gt=$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $began }")
    read -r _ ct cm cv < <($bench jepsen -timeout 60s "$tmp/$h.edn")
    echo "| $h | $gt | $ct | $cm | $cv |"
  done
  echo
}

if [[ $timeout != jepsen ]]; then
  jsonl
fi
jepsen
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)."
