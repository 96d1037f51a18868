#!/usr/bin/env python3
"""Load script: starts a release `formwork` on a fresh SQLite file and measures

* single-record create at concurrency 1 and 8 (>= 5,000 requests each),
* batch create of 100,000 records (batches of 1,000),
* a filtered (select = value) and sorted (number desc) first page of 25 over
  those 100,000 records: p50/p95 over 200 requests,
* get by id: p50,
* idle and peak RSS of the server,
* and, in the same run, the floor: plain SQL inserts of the same rows with the
  same expression indexes straight into a SQLite file (Python's sqlite3).

Usage:  cargo build --release -p server && python3 bench/load.py [--records 100000]
Results go to stdout and bench/out/results.json.
"""

import argparse
import http.client
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIERS = ["VIP", "regular", "new", "dormant"]
FORM = {
    "name": "Customers",
    "fields": [
        {"key": "name", "label": "Name", "type": "text", "required": True},
        {"key": "email", "label": "Email", "type": "email"},
        {"key": "tier", "label": "Tier", "type": "select", "indexed": True,
         "options": [{"value": t} for t in TIERS]},
        {"key": "total_spent", "label": "Total spent", "type": "number", "indexed": True},
        {"key": "city", "label": "City", "type": "text"},
    ],
}


def row(i):
    return {"name": f"customer {i}", "email": f"c{i}@example.com", "tier": TIERS[i % 4],
            "total_spent": (i * 7919) % 100000 / 10, "city": random.choice(["Shanghai", "Beijing", "Hangzhou"])}


class Api:
    def __init__(self, host, port, token=None):
        self.conn = http.client.HTTPConnection(host, port, timeout=120)
        self.token = token

    def call(self, method, path, body=None):
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None


def _creator(args):
    host, port, token, form, start, count = args
    api = Api(host, port, token)
    for i in range(start, start + count):
        s, b = api.call("POST", f"/api/v1/forms/{form}/records", {"data": row(i)})
        if s != 201:
            raise SystemExit(f"create failed: {s} {b}")
    return count


def creates(host, port, token, form, total, concurrency, offset):
    per = total // concurrency
    t = time.perf_counter()
    with Pool(concurrency) as pool:
        n = sum(pool.map(_creator, [(host, port, token, form, offset + k * per, per) for k in range(concurrency)]))
    return n / (time.perf_counter() - t)


def plain_sql(rows):
    d = tempfile.mkdtemp(prefix="fw-floor-")
    db = sqlite3.connect(os.path.join(d, "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE records (tenant_id TEXT, id TEXT PRIMARY KEY, form_id TEXT, data TEXT, version INT, "
               "created_at TEXT, updated_at TEXT, deleted_at TEXT)")
    db.execute("CREATE INDEX r_tier ON records (tenant_id, form_id, (data ->> 'tier')) WHERE deleted_at IS NULL")
    db.execute("CREATE INDEX r_total ON records (tenant_id, form_id, CAST(data ->> 'total_spent' AS NUMERIC)) "
               "WHERE deleted_at IS NULL")
    t = time.perf_counter()
    for k in range(0, len(rows), 1000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO records VALUES ('t', ?, 'f', ?, 1, '2026-01-01', '2026-01-01', NULL)",
                       [(str(uuid.uuid4()), json.dumps(r)) for r in rows[k:k + 1000]])
        db.execute("COMMIT")
    batch_rate = len(rows) / (time.perf_counter() - t)
    t = time.perf_counter()
    n = 5000
    for r in rows[:n]:
        db.execute("INSERT INTO records VALUES ('t', ?, 'f', ?, 1, '2026-01-01', '2026-01-01', NULL)",
                   (str(uuid.uuid4()), json.dumps(r)))
    single_rate = n / (time.perf_counter() - t)
    return batch_rate, single_rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--creates", type=int, default=5_000)
    ap.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                     "release", "formwork"))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="fw-bench-")
    env = dict(os.environ, DATABASE_URL=f"sqlite://{d}/formwork.db?mode=rwc", FORMWORK_BIND="127.0.0.1:0",
               FORMWORK_DEMO_PASSWORD="bench-password", FORMWORK_LOG="warn,server=info", FORMWORK_MAX_BODY="8388608")
    proc = subprocess.Popen([a.binary], env=env, stderr=subprocess.PIPE, text=True)
    port = None
    for line in proc.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    try:
        host = "127.0.0.1"
        api = Api(host, port)
        for _ in range(100):
            try:
                if api.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        s, b = api.call("POST", "/api/v1/auth/login",
                        {"tenant": "demo", "email": "admin@demo.local", "password": "bench-password"})
        api.token = b["token"]
        _, app = api.call("POST", "/api/v1/apps", {"name": "Bench"})
        _, form = api.call("POST", f"/api/v1/apps/{app['id']}/forms", FORM)
        form = form["id"]
        time.sleep(1)
        res = {"idle_rss_mb": rss_kb(proc.pid) / 1024}
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb(proc.pid))
                time.sleep(0.05)
        threading.Thread(target=watch, daemon=True).start()

        res["create_c1_per_s"] = creates(host, port, api.token, form, a.creates, 1, 0)
        res["create_c8_per_s"] = creates(host, port, api.token, form, a.creates, 8, a.creates)
        rows = [row(i) for i in range(a.records)]
        t = time.perf_counter()
        for k in range(0, a.records, 1000):
            s, b = api.call("POST", f"/api/v1/forms/{form}/records/batch",
                            {"records": [{"data": r} for r in rows[k:k + 1000]]})
            if s != 201:
                raise SystemExit(f"batch failed: {s} {b}")
        res["batch_per_s"] = a.records / (time.perf_counter() - t)
        q = {"filter": {"field": "tier", "op": "eq", "value": "VIP"},
             "sort": [{"field": "total_spent", "dir": "desc"}], "limit": 25}
        lat = []
        for _ in range(200):
            t = time.perf_counter()
            s, b = api.call("POST", f"/api/v1/forms/{form}/records/query", q)
            lat.append((time.perf_counter() - t) * 1000)
            assert s == 200 and len(b["records"]) == 25, (s, b)
        res["page_p50_ms"], res["page_p95_ms"] = pct(lat, 0.5), pct(lat, 0.95)
        ids = [r["id"] for r in b["records"]]
        lat = []
        for i in range(500):
            t = time.perf_counter()
            s, _ = api.call("GET", f"/api/v1/forms/{form}/records/{ids[i % len(ids)]}")
            lat.append((time.perf_counter() - t) * 1000)
        res["get_p50_ms"] = pct(lat, 0.5)
        stop.set()
        res["peak_rss_mb"] = peak[0] / 1024
        floor_batch, floor_single = plain_sql(rows)
        res["plain_sql_batch_per_s"], res["plain_sql_single_per_s"] = floor_batch, floor_single
        res["batch_vs_plain_sql"] = res["batch_per_s"] / floor_batch
    finally:
        proc.terminate()
        proc.wait(timeout=40)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    for k, v in res.items():
        print(f"{k:28} {v:12.2f}")


if __name__ == "__main__":
    sys.exit(main())
