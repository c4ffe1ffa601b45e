#!/usr/bin/env python3
"""A load test of the example server (`make load`).

Starts Examples/RequestIDServer's release binary on 127.0.0.1, sends it
REQUESTS requests to /hello, CONCURRENCY at a time, each with an
`x-request-id` of its own, and checks:

- every answer is "<id> <id>": the id the front handler read from its
  context, and the id the second hop read after the id crossed in the
  `baggage` header;
- every answer echoes the id in its `x-request-id` header;
- the server's log has, for each id, exactly the three lines of its own
  request ("front: handling", "second hop: handling", "front: second hop
  answered"), each once, and no line carries an id that was not sent.

Prints requests per second and the counts; exits 1 on any mismatch.

Usage: load.py SERVER_BINARY [--requests N] [--concurrency N]
"""
import argparse
import asyncio
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import aiohttp

LINES = ("front: handling", "second hop: handling", "front: second hop answered")
LOG_LINE = re.compile(r"request_id=(\S+) .*\] (.+)$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until_listening(port, server, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"load: the server exited early ({server.returncode})")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    sys.exit("load: the server did not start listening")


async def drive(port, requests, concurrency):
    """Sends the requests; returns (ids sent, mismatches, seconds)."""
    ids = [f"load-{i:06d}-{uuid.uuid4().hex[:12]}" for i in range(requests)]
    mismatches = []
    queue = iter(ids)
    url = f"http://127.0.0.1:{port}/hello"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    async def worker(session):
        for id in queue:
            async with session.get(url, headers={"x-request-id": id}) as response:
                body = await response.text()
                if response.status != 200 or body != f"{id} {id}" or response.headers.get("x-request-id") != id:
                    mismatches.append((id, response.status, body, response.headers.get("x-request-id")))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.monotonic() - start
    return ids, mismatches, seconds


def check_log(path, ids):
    """Mismatches between the log and the ids sent."""
    sent = set(ids)
    seen = collections.defaultdict(collections.Counter)
    problems = []
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            match = LOG_LINE.search(line.rstrip("\n"))
            if not match:
                continue
            id, message = match.groups()
            if id not in sent:
                problems.append(f"a line with an id never sent: {line.strip()}")
                continue
            seen[id][message] += 1
    for id in ids:
        lines = seen.get(id, collections.Counter())
        if lines != collections.Counter(LINES):
            problems.append(f"{id}: {dict(lines)}")
    return problems, sum(sum(c.values()) for c in seen.values())


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=300)
    args = parser.parse_args()

    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="load.", suffix=".log", delete=False) as log:
        log_path = log.name
    with open(log_path, "w") as log:
        server = subprocess.Popen([args.server, str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        await wait_until_listening(port, server)
        ids, mismatches, seconds = await drive(port, args.requests, args.concurrency)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    problems, lines = check_log(log_path, ids)
    print(f"load: {len(ids):,} requests, {args.concurrency} at a time, in {seconds:.1f} s: "
          f"{len(ids) / seconds:,.0f} requests/s (each makes a second hop to the same server)")
    print(f"load: {len(ids) - len(mismatches):,} answers carried their own id, {len(mismatches):,} did not")
    print(f"load: {lines:,} log lines with a request id, {len(problems):,} problems (expected {3 * len(ids):,} lines)")
    for problem in (mismatches[:5] + problems[:5]):
        print(f"load:   {problem}")
    if mismatches or problems:
        print(f"load: FAILED (log kept at {log_path})")
        return 1
    os.unlink(log_path)
    print("load: passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
