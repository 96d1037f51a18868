#!/usr/bin/env bash
# Load benchmark: a release server on a fresh SQLite file, driven over HTTP on
# 127.0.0.1 only, plus the plain-SQL floor in the same run. Bounded: fixed
# request counts, and the server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p server -p loadgen
bin=target/release
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
password="bench-password-1"
DATABASE_URL="sqlite://$work/bench.db?mode=rwc" FORMWORK_BIND="127.0.0.1:$port" \
  FORMWORK_DEMO_PASSWORD="$password" FORMWORK_LOG=warn "$bin/formwork" serve >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
rss() { awk -v k="$1" '$1 == k":" {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status"; }
sleep 1
echo "idle RSS: $(rss VmRSS)"
"$bin/loadgen" http "http://127.0.0.1:$port" demo admin@demo.local "$password"
echo "peak RSS: $(rss VmHWM)"
"$bin/loadgen" floor "$work/floor.db" 100000
