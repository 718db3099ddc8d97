#!/usr/bin/env bash
# The nightly soak: builds a static jetsam and runs `jetsam soak` for hours
# of rotating seeds and fault mixes. For cron or CI; exits with soak's exit
# code (0 valid, 1 anomaly found, 2 unknown, 3 could not run), so any
# anomaly fails the job. Every failing run is kept whole in the store.
#
#   DURATION=8h STORE=./nightly-store scripts/nightly.sh [more soak flags] [-- run flags]
#
# Environment (all optional):
#   DURATION     how long to start runs for (default 8h)
#   STORE        the store: runs and soak-summary.json (default ./nightly-store)
#   SUMMARY_OUT  also copy soak-summary.json here (default: $STORE/soak-summary.json)
#   BIN          where to build jetsam (default $STORE/.bin/jetsam)
#   HOSTS_FILE   run the nodes on these hosts (one user@host[:port] a line): --hosts
#   SSH_KEY      the private key that logs in to them: --ssh-key
#   KNOWN_HOSTS  their host keys: --known-hosts
#   GO           the go command (default: go)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration=${DURATION:-8h}
store=${STORE:-./nightly-store}
mkdir -p "$store"
store=$(cd "$store" && pwd)
summary_out=${SUMMARY_OUT:-$store/soak-summary.json}
bin=${BIN:-$store/.bin/jetsam}
go=${GO:-go}

# Static, so the same binary runs on every host it is copied to.
mkdir -p "$(dirname "$bin")"
(cd "$root" && CGO_ENABLED=0 "$go" build -o "$bin" ./cmd/jetsam)
"$bin" version

# Soak flags come from the command line; run flags for every run go after --.
soak_args=(--duration "$duration" --store "$store")
run_args=()
seen_dash=0
for a in "$@"; do
  if [ "$seen_dash" = 0 ] && [ "$a" = "--" ]; then
    seen_dash=1
  elif [ "$seen_dash" = 0 ]; then
    soak_args+=("$a")
  else
    run_args+=("$a")
  fi
done
if [ -n "${HOSTS_FILE:-}" ]; then run_args+=(--hosts "$HOSTS_FILE"); fi
if [ -n "${SSH_KEY:-}" ]; then run_args+=(--ssh-key "$SSH_KEY"); fi
if [ -n "${KNOWN_HOSTS:-}" ]; then run_args+=(--known-hosts "$KNOWN_HOSTS"); fi

code=0
if [ "${#run_args[@]}" -gt 0 ]; then
  "$bin" soak "${soak_args[@]}" -- "${run_args[@]}" || code=$?
else
  "$bin" soak "${soak_args[@]}" || code=$?
fi

summary=$store/soak-summary.json
if [ -f "$summary" ]; then
  out_dir=$(mkdir -p "$(dirname "$summary_out")" && cd "$(dirname "$summary_out")" && pwd)
  if [ "$out_dir/$(basename "$summary_out")" != "$summary" ]; then
    cp "$summary" "$summary_out"
  fi
fi
echo "nightly: jetsam soak exited $code; summary: $summary_out" >&2
exit "$code"
