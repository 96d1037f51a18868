#!/usr/bin/env bash
# Fuzzes the whole API against its OpenAPI document with schemathesis:
# starts the built `formwork` binary on a fresh SQLite database, signs in
# as the demo owner, and runs the examples, coverage and fuzzing phases
# over every operation, bounded in examples per operation and in time.
# Fails on any 5xx answer and on any answer that breaks the documented
# schema. Only 127.0.0.1 is reached.
#
#   tests/fuzz/run.sh [path/to/formwork]
#
# Env: FUZZ_MAX_EXAMPLES (default 10), FUZZ_MAX_TIME seconds (default 300),
# FUZZ_SEED (default fixed, so a run is reproducible), FUZZ_DIR (work dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="${1:-$target/debug/formwork}"
[ -x "$bin" ] || { echo "fuzz: no server binary at $bin (build it first)" >&2; exit 2; }
work="${FUZZ_DIR:-$target/fuzz}"
rm -rf "$work/data" "$work/report" "$work"/fuzz.db*
mkdir -p "$work"

venv="$target/fuzz-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$(sed -n 's/^schemathesis==//p' tests/fuzz/requirements.txt)"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/fuzz/requirements.txt
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
password="fuzz-password-$RANDOM$RANDOM"
DATABASE_URL="sqlite://$work/fuzz.db?mode=rwc" FORMWORK_BIND="127.0.0.1:$port" \
  FORMWORK_DEMO=true FORMWORK_DEMO_PASSWORD="$password" FORMWORK_DATA_DIR="$work/data" \
  FORMWORK_LOGIN_RATE_PER_MINUTE=100000 FORMWORK_V5_RATE_LIMIT=0 FORMWORK_LOG=warn \
  "$bin" serve >"$work/server.log" 2>&1 &
server=$!
# The fuzzed server may still be working through queued jobs (template
# installs the fuzzer asked for): ask it to stop, then make it.
stop_server() {
  kill "$server" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$server" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$server" 2>/dev/null || true
}
trap stop_server EXIT
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
token="$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"tenant\":\"demo\",\"email\":\"admin@demo.local\",\"password\":\"$password\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

# Logging out would end the run's own session, so that one operation is left out.
set +e
"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${FUZZ_MAX_EXAMPLES:-10}" --max-time "${FUZZ_MAX_TIME:-300}" \
  --seed "${FUZZ_SEED:-20261207}" --workers 2 --request-timeout 30 \
  --exclude-operation-id logout \
  --no-color --report ndjson --report-dir "$work/report" >"$work/schemathesis.log" 2>&1
status=$?
set -e
tail -n 40 "$work/schemathesis.log"
# Judge by the checks alone: an error inside the fuzzer itself (it has
# crashed generating data for a schema) is shown, not counted as a finding.
python3 - "$work/report" <<'PY'
import collections, glob, json, sys
status = collections.Counter()
failed = collections.Counter()
for path in glob.glob(f"{sys.argv[1]}/*.ndjson"):
    for line in open(path, encoding="utf-8"):
        event = json.loads(line).get("ScenarioFinished")
        if event:
            status[event["status"]] += 1
            if event["status"] == "failure":
                failed[event["recorder"]["label"]] += 1
print(f"fuzz: scenarios {dict(status)}")
for label, n in sorted(failed.items()):
    print(f"fuzz: FAILED {label} ({n} scenarios)")
sys.exit(1 if failed or not status["success"] else 0)
PY
judged=$?
# A 5xx the checks missed still shows in the log as an internal error.
if grep -q "internal error" "$work/server.log"; then
  echo "fuzz: the server logged internal errors:" >&2
  grep "internal error" "$work/server.log" | head -20 >&2
  exit 1
fi
exit "$judged"
