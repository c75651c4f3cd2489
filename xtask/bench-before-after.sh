#!/usr/bin/env bash
# Side-by-side bench: the release binary before (baseline) and after this change, in
# A B B A order (twice) so that drift hits both alike; PostgreSQL gets a fresh database
# for every run (rows of earlier runs would slow later ones).
#
# Usage: BEFORE=path/to/old/herald AFTER=path/to/new/herald xtask/bench-before-after.sh
# (build each with `cargo build --release -p herald-cli` in a worktree of its commit).
# CONFIGS picks the runs: sqlite, sqlite-rate, pgrabbit, pgrabbit-rate.
set -u
BEFORE=${BEFORE:?the herald binary before the change}
AFTER=${AFTER:?the herald binary after the change}
PG=${PG:-postgres://postgres@127.0.0.1/herald_bench}
run() { # label binary args...
  local label=$1 bin=$2; shift 2
  psql -q "${PG%/*}/postgres" -c "DROP DATABASE IF EXISTS herald_bench WITH (FORCE)" -c "CREATE DATABASE herald_bench" >/dev/null 2>&1
  local out; out=$(cd /tmp && timeout 300 "$bin" bench --json "$@" 2>/dev/null)
  echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print('$label', round(d['throughput_eps']), d['latency_ms']['p50'], d['latency_ms']['p99'], 'lost', d['lost'], 'twice', d['applied_twice'])"
}
for config in ${CONFIGS:-sqlite pgrabbit}; do
  case $config in
    sqlite) args=(--events 20000) ;;
    sqlite-rate) args=(--events 20000 --rate 800) ;;
    pgrabbit) args=(--events 30000 --database $PG --broker amqp://guest:guest@127.0.0.1:5672/%2f) ;;
    pgrabbit-rate) args=(--events 20000 --rate 1000 --database $PG --broker amqp://guest:guest@127.0.0.1:5672/%2f) ;;
  esac
  echo "== $config: herald bench --json ${args[*]}"
  for i in 1 2; do
    run "before" "$BEFORE" "${args[@]}"
    run "after " "$AFTER" "${args[@]}"
    run "after " "$AFTER" "${args[@]}"
    run "before" "$BEFORE" "${args[@]}"
  done
done
