#!/usr/bin/env bash
# Runs every fuzz target for a while (30 s each unless FUZZTIME says
# otherwise): histories, node logs, results.json and route bytes come from
# elsewhere, and none may panic jetsam or take memory without bound.
#
# A finding always writes its input under testdata/fuzz and fails here.
# Go 1.26's fuzz coordinator can also fail a target with a bare "context
# deadline exceeded" at the end of -fuzztime when a worker is still busy
# (golang/go#75804, fixed in Go 1.27): no input is written and nothing
# reproduces. That one case is told apart, the target's corpus is replayed
# as plain tests, and the script goes on; anything else fails it.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-30s}"
targets=(
  history:FuzzRead
  history:FuzzReadJepsen
  checker:FuzzCheckReader
  checker:FuzzCheckJepsen
  checker:FuzzCheckAssertions
  results:FuzzCheckRunFolder
  node/proxy:FuzzFramer
)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

corpus() { ls "$1" 2>/dev/null | sort; }

for target in "${targets[@]}"; do
  pkg="./${target%%:*}" name="${target#*:}"
  dir="${target%%:*}/testdata/fuzz/$name"
  before=$(corpus "$dir")
  # Minimizing an interesting input runs it many times; a bounded
  # minimization keeps the workers reporting within the fuzz time.
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 10s "$pkg" >"$out" 2>&1
  rc=$?
  cat "$out"
  [ "$rc" -eq 0 ] && continue
  if [ "$(corpus "$dir")" != "$before" ] || grep -q -e 'Failing input written to' -e '^panic:' "$out"; then
    echo "fuzz: $name found an input that fails; it is in $dir" >&2
    exit 1
  fi
  if [ "$(grep -c -e '^--- FAIL' "$out")" -eq 1 ] && grep -qx '    context deadline exceeded' "$out"; then
    echo "fuzz: $name ended on the Go coordinator's deadline race (golang/go#75804), no input failed; replaying its corpus"
    go test -count=1 -run "^${name}\$" "$pkg" || exit 1
    continue
  fi
  echo "fuzz: $name failed (exit $rc)" >&2
  exit 1
done
