#!/usr/bin/env bash
# Measures what preparing a node's nats-server costs: a release built for
# the first time (Go's build cache warm or not, as it is), the same release
# from jetsam's cache, and, as the baseline in the same run, a full
# rebuild of jetsam itself (go build -a). Usage: scripts/serverbench.sh [vX.Y.Z]
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-v2.11.8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/jetsam" ./cmd/jetsam
secs() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; echo "$(date +%s.%N) - $s" | bc; }
base=$(secs go build -a -o "$work/jetsam-a" ./cmd/jetsam)
export JETSAM_CACHE="$work/cache"
# jetsam records how long preparing the server took in test.json.
build() {
  "$work/jetsam" run --server-version "$version" --store "$work/store" --time-limit 2s --nemesis none --rate 50 >/dev/null 2>&1 || true
  sed -n 's/.*"build_seconds": \([0-9.]*\).*/\1/p' "$work/store/latest/test.json"
}
first=$(build)
cached=$(build)
printf 'baseline: go build -a of jetsam   %6.1fs\n' "$base"
printf 'new version %s               %6.1fs  %.2fx of the baseline\n' "$version" "$first" "$(echo "$first / $base" | bc -l)"
printf 'cached version                    %6.3fs\n' "$cached"
