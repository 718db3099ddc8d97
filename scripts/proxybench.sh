#!/usr/bin/env bash
# Measures what jetsam's link proxies cost against direct routes and
# toxiproxy: added latency per message and R3 stream publish throughput.
# Prints a Markdown table for BENCHMARKS.md. Extra arguments go to the
# benchmark (see `go run ./scripts/proxybench -h` from scripts/proxybench).
#
#   bash scripts/proxybench.sh [-runs 3] [-duration 10s] [-n 20000] ...
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$root"
echo "building jetsam..." >&2
go build -o "$tmp/jetsam" ./cmd/jetsam

cd "$root/scripts/proxybench"
go run . -jetsam "$tmp/jetsam" "$@"
