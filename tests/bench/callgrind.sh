#!/usr/bin/env bash
# Instructions per operation, server process only: a cost figure that does
# not move with the load on the machine (wall-clock timing on a shared
# 2-core box varies ±30% between runs; instruction counts of the same
# binary on the same inputs do not).
#
#   tests/bench/callgrind.sh [--backend sqlite|postgres|mariadb] [--ops N] SCENARIO...
#
# For each scenario it starts `cubby serve` under `valgrind --tool=callgrind`
# on a fresh database, drives it with `cubby-bench --url … --clients 1
# --max-ops N`, and again with 2N operations on another fresh database. The
# figure is (Ir(2N) − Ir(N)) / N: start-up, the scenario's set-up (logins,
# the first project) and shutdown are the same in both runs and cancel out,
# so what is left is the cost of N operations in steady state. Collection
# starts only when the server is ready (`--instr-atstart=no`, switched on
# with `callgrind_control -i on`), so start-up and migrations cost nothing
# either way.
#
# Needs valgrind (callgrind_control is part of it) and a release build:
# `cargo build --release --bins`. Prints one line per scenario and writes
# them to $OUT (default tests/bench/callgrind.tsv) as
# `scenario backend ops ir_per_op commit`. CUBBY_BIN and BENCH_BIN name other
# binaries (an older build, for a before/after pair; COMMIT then labels it).
# KEEP=1 keeps the work directory
# (server logs, bench output, callgrind dumps for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/../.."

backend=sqlite
ops=200
scenarios=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --ops) ops="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(hot-edit spread-edit read asset-dedup login-storm backpack)

cubby="${CUBBY_BIN:-target/release/cubby}"
bench="${BENCH_BIN:-target/release/cubby-bench}"
for bin in "$cubby" "$bench"; do
  [ -x "$bin" ] || { echo "no $bin: run cargo build --release --bins" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

pg_url="${CUBBY_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}"
mysql_url="${CUBBY_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
out="${OUT:-tests/bench/callgrind.tsv}"
commit="${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
work="$(mktemp -d)"; [ -n "${KEEP:-}" ] && echo "work dir: $work" >&2
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# A free loopback port (bound and released by Python; nothing else races for
# ports on this machine's loopback in a benchmark run).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A fresh database URL for one run.
fresh_db() {
  local name="cubby_cg_$$_$1"
  case "$backend" in
    sqlite) echo "sqlite://$work/$1.db?mode=rwc" ;;
    postgres)
      psql -q "$pg_url/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
      echo "$pg_url/$name" ;;
    mariadb)
      mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $name; CREATE DATABASE $name" >/dev/null
      echo "$mysql_url/$name" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
}

drop_db() {
  local name="cubby_cg_$$_$1"
  case "$backend" in
    postgres) psql -q "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null ;;
    mariadb) mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $name" >/dev/null ;;
  esac
}

# Total instructions (Ir) the server executed while collecting, for one
# scenario run of $2 operations.
measure() {
  local scenario="$1" n="$2" tag="$1-$2"
  local port; port="$(free_port)"
  local url="http://127.0.0.1:$port"
  local cg="$work/cg.$tag"
  mkdir -p "$work/data-$tag"
  CUBBY_DATABASE_URL="$(fresh_db "${tag//-/_}")" CUBBY_DATA_DIR="$work/data-$tag" \
    CUBBY_BIND="127.0.0.1:$port" CUBBY_DEV_LOGIN=true \
    CUBBY_LOGIN_RATE_PER_IP=0 CUBBY_LOGIN_RATE_PER_USER=0 CUBBY_WORKERS=2 \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$cg" \
      "$cubby" serve >"$work/server-$tag.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    curl -fs "$url/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server-$tag.log" >&2; exit 1; }
    sleep 0.5
  done
  callgrind_control -i on "$server_pid" >/dev/null
  "$bench" --url "$url" --label cg --scenario "$scenario" --clients 1 \
    --max-ops "$n" --duration-secs 3600 --json "$work/bench-$tag.json" >"$work/bench-$tag.log" 2>&1
  local done_ops
  done_ops="$(python3 -c 'import json,sys; print(sum(r["ops"] for r in json.load(open(sys.argv[1]))))' "$work/bench-$tag.json")"
  [ "$done_ops" = "$n" ] || { echo "$tag: $done_ops of $n operations succeeded" >&2; cat "$work/bench-$tag.log" >&2; exit 1; }
  callgrind_control -i off "$server_pid" >/dev/null
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
  drop_db "${tag//-/_}"
  # The dump's "totals:" (or "summary:") line: instructions of every thread.
  # Each file has a "summary:" line and may also have "totals:"; they are
  # the same figure, so take totals where present.
  local sum=0 f t
  for f in "$cg"*; do
    t="$(awk '/^totals:/ { t = $2 } /^summary:/ { s = $2 } END { print (t != "" ? t : s) + 0 }' "$f")"
    sum=$((sum + t))
  done
  echo "$sum"
}

printf 'scenario\tbackend\tops\tir_per_op\tcommit\n' | tee "$out"
for scenario in "${scenarios[@]}"; do
  one="$(measure "$scenario" "$ops")"
  two="$(measure "$scenario" $((2 * ops)))"
  per_op=$(( (two - one) / ops ))
  printf '%s\t%s\t%s\t%s\t%s\n' "$scenario" "$backend" "$ops" "$per_op" "$commit" | tee -a "$out"
done
