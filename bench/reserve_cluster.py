"""Benchmark: reserves/s through ``inventory.reserve`` on a Redis Cluster of 3 primaries (each with a
replica) beside one server, the same sessions and the same client in one run.

    linli bench reserve --cluster

Three sessions, one on each primary (picked by their hash tag's slot), share the concurrent callers;
on one server the same three sessions share its one batch in flight, on the cluster each primary has
its own. Both are private servers from the same binary (infra.redis_server.find_redis_binary), AOF on.
One Python process drives both, so on a small machine the client's CPU, not Redis, sets the ceiling:
read the ratio, and the note it prints on the cores it had.
"""

from __future__ import annotations

import asyncio
import itertools
import os

from bench.common import median, temp_folder
from bench.reserve import IID, through_inventory
from infra.ids import session_tag
from infra.redis_cluster import SLOTS, EmbeddedCluster, key_slot
from infra.redis_server import EmbeddedRedis
from infra.resources import redis_client
from inventory import Inventory


def spread_sessions(primaries: int = 3) -> list[str]:
    """One session id in each primary's slot range, as EmbeddedCluster assigns the ranges."""
    found: dict[int, str] = {}
    for n in itertools.count():
        slot = key_slot(session_tag(f"bench{n}"))
        found.setdefault(max(i for i in range(primaries) if slot >= SLOTS * i // primaries), f"bench{n}")
        if len(found) == primaries:
            return [found[i] for i in range(primaries)]
    raise AssertionError("unreachable")


async def _load(inv: Inventory, sids: list[str], seconds: float, concurrency: int) -> None:
    for sid in sids:
        for _ in range(max(1, int(seconds * 4))):  # ~40,000 units a second of run per session
            await inv.load_stock(sid, IID, add=10_000, per_user_limit=0, price_cents=100)
        await inv.open_sale(sid, IID)


async def _main(seconds: float, concurrency: int, runs: int) -> int:
    sids = spread_sessions()
    with temp_folder("linli-bench-cluster-") as tmp:
        single = EmbeddedRedis(tmp / "single")
        cluster = EmbeddedCluster(tmp / "cluster")
        try:
            clients = {"1 server": redis_client(await single.start()),
                       "cluster, 3 primaries": redis_client(await cluster.start())}
            owners = {(await cluster.primary_of(session_tag(sid))).port for sid in sids}
            print(f"reserves/s through inventory.reserve, {concurrency} callers over sessions {', '.join(sids)} "
                  f"({len(owners)} primaries on the cluster), {seconds:.0f} s x {runs} runs, median; "
                  f"{os.cpu_count()} cores for the servers and this client together")
            invs = {name: Inventory(client) for name, client in clients.items()}
            for inv in invs.values():
                await _load(inv, sids, seconds * runs, concurrency)
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in invs}
            for _ in range(runs):  # interleaved, so a noisy neighbour hits both alike
                for name, inv in invs.items():
                    rate, _, p99 = await through_inventory(inv, seconds, concurrency, tuple(sids))
                    figures[name].append((rate, p99))
            base = median([rate for rate, _ in figures["1 server"]])
            for name, rows in figures.items():
                rate, p99 = median([r for r, _ in rows]), median([p for _, p in rows])
                print(f"  {name:22} {rate:10,.0f} reserves/s   p99 {p99:6.1f} ms   ratio {rate / base:.2f}x")
            for client in clients.values():
                await client.aclose()
        finally:
            await cluster.stop()
            await single.stop()
    return 0


def run(seconds: float = 5.0, concurrency: int = 60, runs: int = 3) -> int:
    """Run the benchmark and print its figures; returns the exit code."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    return asyncio.run(_main(seconds, concurrency, runs))
