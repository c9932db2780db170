#!/usr/bin/env python3
"""Soak: Tollgate under steady mixed load for minutes (issue 12), documented in
bench/RESILIENCE.md, not run in CI. Python standard library only; the bench's `tg-load` (in
BIN_DIR: `cargo build --release -p tollgate -p mock-provider -p tollgate-bench`) offers the
ordinary and failing calls when present, since a Python loop tops out near 1,500 calls a second.

Starts the mock provider and Tollgate (SQLite, a fresh data directory) from BIN_DIR, then
offers RATE chat calls per second (open loop: each call its own task, on an idle keep-alive
connection or a new one; `late` counts calls started over a second behind schedule) for
MINUTES: ERRORS % to a model whose provider answers 500 (the breaker is set never to open,
so each one reaches the provider), DISCONNECTS % streams the client drops after the first
bytes, the rest ordinary calls. Every minute it prints one CSV line: the gateway's RSS, open
files and threads, and that minute's answers. At the end it stops the gateway with SIGTERM and
checks in the SQLite file that every balance equals the sum of its ledger, that no call is
charged twice, and that every priced success has its charge. Exit status 0 only if all hold.

    scripts/soak.py --bin-dir target/release --minutes 60 --rate 3435

With tg-load, each minute runs two tg-load processes (open loop over --conns keep-alive
connections: the ordinary calls, and the failing ones over a quarter as many) beside the
Python loop of dropped streams; the minute's line gives the ordinary calls' p99 from their
scheduled send time (a generator or gateway falling behind shows there).
"""

import argparse
import asyncio
import json
import re
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

MASTER_KEY = "soak-master-key-0123456789"
GRANT = "1000000"


def start(cmd, env, log):
    """Starts `cmd`, waits for `listening on ADDR` on its stdout, answers (process, addr)."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    for line in p.stdout:
        if "listening on " in line:
            addr = line.split("listening on ", 1)[1].split()[0].replace("http://", "").rstrip("/")
            return p, addr
    raise SystemExit(f"{cmd[0]} exited before listening")


def api(addr, method, path, body=None):
    req = urllib.request.Request(f"http://{addr}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"authorization": f"Bearer {MASTER_KEY}",
                                          "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def set_up(gw, mock):
    """Providers ok, failing (every answer a 500) and slow (a one-second stream), a priced model
    on each, a user with credits and a key. Answers (user id, key)."""
    for name, base in [("soak-ok", f"http://{mock}/v1"),
                       ("soak-failing", f"http://{mock}/s/status=500/v1"),
                       ("soak-slow", f"http://{mock}/s/chunks=20,chunk_delay_ms=50/v1")]:
        p = api(gw, "POST", "/api/v1/providers", {"name": name, "kind": "openai", "base_url": base})
        api(gw, "POST", f"/api/v1/providers/{p['id']}/credentials", {"api_key": "sk-soak"})
        api(gw, "POST", "/api/v1/models", {"name": name, "targets": [{"provider": name, "model": "mock-gpt"}],
                                           "pricing": {"input": 2.5, "output": 10}})
    user = api(gw, "POST", "/api/v1/users", {"name": "soak"})
    api(gw, "POST", f"/api/v1/users/{user['id']}/credits", {"amount": GRANT})
    key = api(gw, "POST", "/api/v1/keys", {"user_id": user["id"]})
    return user["id"], key["key"]


def request(gw, key, model, stream=False):
    body = json.dumps({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
    return (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {gw}\r\nauthorization: Bearer {key}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n{body}").encode()


async def read_response(reader):
    """Reads one HTTP/1.1 response (content-length or chunked); answers its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


class Counts:
    def __init__(self):
        self.c = dict(ok=0, upstream_errors=0, disconnects=0, other=0, late=0)
        self.in_flight = 0

    def take(self):
        """The minute's counts and most calls in flight at once; both start again from zero."""
        out, self.c = self.c, dict.fromkeys(self.c, 0)
        in_flight, self.in_flight = self.in_flight, 0
        return out, in_flight


async def disconnect(gw, key, counts):
    """A stream its client leaves after the first bytes."""
    try:
        host, port = gw.rsplit(":", 1)
        r, w = await asyncio.open_connection(host, int(port))
        w.write(request(gw, key, "soak-slow", stream=True))
        await w.drain()
        first = await r.read(512)
        w.close()
        counts.c["disconnects" if first.startswith(b"HTTP/1.1 200") else "other"] += 1
    except (OSError, asyncio.IncompleteReadError):
        counts.c["other"] += 1


async def call(gw, payload, fails, idle, counts):
    """One ordinary or failing call on an idle keep-alive connection (a new one if none)."""
    host, port = gw.rsplit(":", 1)
    try:
        conn = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        conn[1].write(payload)
        await conn[1].drain()
        status = await read_response(conn[0])
        idle.append(conn)
        if status == 200:
            counts.c["ok"] += 1
        elif fails and status >= 500:
            counts.c["upstream_errors"] += 1
        else:
            counts.c["other"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        counts.c["other"] += 1


async def offer(gw, key, args, counts, until):
    """Open loop: the i-th call starts at i / RATE seconds whatever the earlier ones are doing
    (each its own task), its kind decided by i % 100."""
    ok, failing = request(gw, key, "soak-ok"), request(gw, key, "soak-failing")
    idle, running = [], set()
    interval = 1.0 / args.rate
    next_at, i = time.monotonic(), 0
    while time.monotonic() < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() - next_at > 1.0:
            counts.c["late"] += 1
        next_at += interval
        i += 1
        slot = (i * 37) % 100
        if slot < args.disconnect_percent:
            task = asyncio.ensure_future(disconnect(gw, key, counts))
        else:
            fails = slot < args.disconnect_percent + args.error_percent
            task = asyncio.ensure_future(call(gw, failing if fails else ok, fails, idle, counts))
        running.add(task)
        task.add_done_callback(running.discard)
        counts.in_flight = max(counts.in_flight, len(running))
    await asyncio.gather(*running)


def load_average():
    return open("/proc/loadavg").read().split()[0]


def sample(pid):
    status = open(f"/proc/{pid}/status").read()
    field = lambda name: int(next(l for l in status.splitlines() if l.startswith(name)).split()[1])
    return field("VmRSS:") / 1024, len(os.listdir(f"/proc/{pid}/fd")), field("Threads:")


async def load(args, gw, key, pid):
    counts = Counts()
    started = time.monotonic()
    until = started + args.minutes * 60
    offered = asyncio.ensure_future(offer(gw, key, args, counts, until))
    print("minute,rss_mb,open_files,threads,ok,upstream_errors,disconnects,other,late,max_in_flight,load1",
          flush=True)
    for minute in range(0, args.minutes + 1):
        await asyncio.sleep(max(0.0, started + minute * 60 - time.monotonic()))
        rss, fds, threads = sample(pid)
        c, in_flight = counts.take()
        load1 = load_average()
        print(f"{minute},{rss:.1f},{fds},{threads},{c['ok']},{c['upstream_errors']},{c['disconnects']},"
              f"{c['other']},{c['late']},{in_flight},{load1}", flush=True)
    await offered


async def offer_disconnects(gw, key, rate, counts, until):
    """Open loop of streams the client drops, `rate` a second (the tg-load generator's companion)."""
    if rate <= 0:
        return await asyncio.sleep(max(0.0, until - time.monotonic()))
    running, interval, next_at = set(), 1.0 / rate, time.monotonic()
    while time.monotonic() < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() - next_at > 1.0:
            counts.c["late"] += 1
        next_at += interval
        task = asyncio.ensure_future(disconnect(gw, key, counts))
        running.add(task)
        task.add_done_callback(running.discard)
        counts.in_flight = max(counts.in_flight, len(running))
    await asyncio.gather(*running)


TG_LOAD_LINE = re.compile(r"(\S+) req/s, p50 (\S+) ms, p99 (\S+) ms, max (\S+) ms, (\d+) ok, (\d+) errors")


async def tg_load(binary, gw, key, model, rate, conns, seconds):
    """One minute of tg-load (Rust, hyper, open loop: latency from each call's scheduled send
    time). Answers (ok, errors, p99 ms, first error line)."""
    if rate <= 0:
        await asyncio.sleep(seconds)
        return 0, 0, float("nan"), ""
    p = await asyncio.create_subprocess_exec(
        binary, f"http://{gw}/v1/chat/completions", "--conns", str(conns), "--rate", str(rate),
        "--duration", str(seconds), "--warmup", "0", "--model", model, "--key", key,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await p.communicate())[0].decode(errors="replace")
    m = TG_LOAD_LINE.search(out)
    if not m:
        return 0, 0, float("nan"), out.strip()[:200]
    first_error = next((l for l in out.splitlines() if l.startswith("error: ")), "")
    return int(m.group(5)), int(m.group(6)), float(m.group(3)), first_error


async def load_tg(args, gw, key, pid, binary):
    """The ordinary and failing calls from two tg-load processes (a Python loop cannot offer
    thousands a second), restarted every minute; the dropped streams from Python."""
    counts = Counts()
    ok_rate = args.rate * (100 - args.error_percent - args.disconnect_percent) / 100
    fail_rate = args.rate * args.error_percent / 100
    drop_rate = args.rate * args.disconnect_percent / 100
    print("minute,rss_mb,open_files,threads,ok,ok_p99_ms,other,upstream_errors,disconnects,late_or_failed_drops,"
          "max_drops_in_flight,load1", flush=True)
    rss, fds, threads = sample(pid)
    print(f"0,{rss:.1f},{fds},{threads},0,,0,0,0,0,0,{load_average()}", flush=True)
    first_errors = set()
    for minute in range(1, args.minutes + 1):
        until = time.monotonic() + 60
        (ok, ok_err, ok_p99, e1), (fail_ok, fails, _, _), _ = await asyncio.gather(
            tg_load(binary, gw, key, "soak-ok", ok_rate, args.conns, 60),
            tg_load(binary, gw, key, "soak-failing", fail_rate, max(1, args.conns // 4), 60),
            offer_disconnects(gw, key, drop_rate, counts, until))
        if e1:
            first_errors.add(e1)
        rss, fds, threads = sample(pid)
        c, in_flight = counts.take()
        load1 = load_average()
        print(f"{minute},{rss:.1f},{fds},{threads},{ok},{ok_p99:.2f},{ok_err + fail_ok},{fails},{c['disconnects']},"
              f"{c['other'] + c['late']},{in_flight},{load1}", flush=True)
    for e in sorted(first_errors):
        print(f"# an ordinary call's error: {e}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default="target/release")
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--rate", type=float, default=3435.0, help="requests per second offered")
    ap.add_argument("--error-percent", type=int, default=10)
    ap.add_argument("--disconnect-percent", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64,
                    help="tg-load's keep-alive connections for the ordinary calls (a quarter for the failing ones)")
    ap.add_argument("--python-load", action="store_true",
                    help="offer every call from Python even when BIN_DIR has tg-load (slow: ~1,500 calls/s at most)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tg-soak-")
    log = open(os.path.join(work, "servers.log"), "w")
    mock, mock_addr = start([os.path.join(args.bin_dir, "mock-provider"), "--listen", "127.0.0.1:0"], os.environ, log)
    env = dict(os.environ, TOLLGATE_LISTEN="127.0.0.1:0", TOLLGATE_DATA_DIR=os.path.join(work, "data"),
               TOLLGATE_MASTER_KEY=MASTER_KEY, TOLLGATE_ALLOW_PRIVATE_UPSTREAMS="true",
               TOLLGATE_BREAKER_MIN_REQUESTS="1000000000", RUST_LOG="warn")
    env.pop("TOLLGATE_DATABASE_URL", None)
    gw, gw_addr = start([os.path.join(args.bin_dir, "tollgate"), "serve"], env, log)
    try:
        user_id, key = set_up(gw_addr, mock_addr)
        print(f"# soak: {args.minutes} min, {args.rate} req/s offered, "
              f"{args.error_percent} % upstream errors, {args.disconnect_percent} % client disconnects; "
              f"dir {work}", flush=True)
        tg = os.path.join(args.bin_dir, "tg-load")
        if os.path.exists(tg) and not args.python_load:
            asyncio.run(load_tg(args, gw_addr, key, gw.pid, tg))
        else:
            asyncio.run(load(args, gw_addr, key, gw.pid))
        time.sleep(3)  # streams the clients left finish draining
        shown = api(gw_addr, "GET", f"/api/v1/users/{user_id}")["balance"]
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=60)
        mock.terminate()
        mock.wait()
    db = sqlite3.connect(os.path.join(work, "data", "tollgate.db"))
    q = lambda sql, *a: db.execute(sql, a).fetchall()
    unbalanced = q("SELECT COUNT(*) FROM users u WHERE u.balance <> "
                   "(SELECT COALESCE(SUM(l.amount), 0) FROM ledger l WHERE l.user_id = u.id)")[0][0]
    twice = q("SELECT COUNT(*) FROM (SELECT call_id FROM ledger WHERE kind = 'charge' "
              "GROUP BY call_id HAVING COUNT(*) > 1)")[0][0]
    # The ledger has no index on call_id (nothing in the gateway looks a charge up by its call);
    # a temporary table keeps this check linear at millions of rows without changing the file.
    db.execute("CREATE TEMP TABLE charged (call_id TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute("INSERT OR IGNORE INTO charged SELECT call_id FROM ledger WHERE call_id IS NOT NULL")
    uncharged = q("SELECT COUNT(*) FROM calls c WHERE c.status = 'success' AND c.cost > 0 "
                  "AND NOT EXISTS (SELECT 1 FROM charged l WHERE l.call_id = c.id)")[0][0]
    by_status = q("SELECT status, COALESCE(error_class, ''), COUNT(*) FROM calls GROUP BY 1, 2")
    balance = q("SELECT balance FROM users WHERE id = ?", user_id)[0][0]
    charges = q("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = ? AND kind = 'charge'", user_id)[0]
    print(f"# calls by status and class: {by_status}")
    print(f"# balance {balance} nano-credits (API before the stop: {shown}); grant {GRANT} credits; "
          f"{charges[0]} charges summing {charges[1]}")
    print(f"# balances unequal to their ledger: {unbalanced}; calls charged twice: {twice}; "
          f"priced successes without a charge: {uncharged}")
    sys.exit(0 if (unbalanced, twice, uncharged) == (0, 0, 0) else 1)


if __name__ == "__main__":
    main()
