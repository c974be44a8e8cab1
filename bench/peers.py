"""Benchmark: linli's fan-out beside the servers a Python developer would write instead, with the
same viewers and the same client in one run (bench/peer_servers.py has the peers).

    python -m bench.peers     # or: linli bench peers; BENCH_RUNS, BENCH_VIEWERS=1000,5000,10000

Every server is one process on uvloop; the viewers come from the same uvloop processes
(loadtest/crowd.py, the `websockets` client; for Socket.IO it speaks raw engine.io v4 over a
websocket: the open packet, "40" to join, then "42[...]" events). The clock starts when the HTTP
call that makes the server broadcast is sent: linli's host starting a flash sale (a Lua call, the
event published to Redis and back through pub/sub), a peer's POST /flash. Memory is the server's
RSS growth over its idle viewers; CPU is the server process's CPU seconds from the call to the
last viewer's receipt, per viewer.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

import aiohttp
import uvloop

from bench.common import GEN_PROCESSES, median, percentile
from infra.redis_server import free_port
from loadtest.harness import Crowd, cpu_seconds, now, rss_bytes, start_server

PEERS = ("websockets", "aiohttp", "socketio")
SECRET = "peers-bench-secret-not-checked-by-the-peers-0123456789"


async def _measure(pid: int, start_crowd: Callable[[], Awaitable[Crowd]],
                   trigger: Callable[[], Awaitable[object]], viewers: int) -> dict[str, float]:
    """Connect the crowd, let it settle, fire the trigger: delays, memory and CPU per viewer."""
    rss0 = rss_bytes(pid)
    crowd = await start_crowd()
    await asyncio.sleep(2)  # let join work settle
    rss1, cpu0 = rss_bytes(pid), cpu_seconds(pid)
    t0 = now()
    await trigger()
    results = await crowd.reports()
    cpu1 = cpu_seconds(pid)
    await crowd.ended()
    delays = [t - t0 for r in results for t in r["arrived"]]
    return {"p50": percentile(delays, 0.5) * 1e3, "p99": percentile(delays, 0.99) * 1e3, "max": max(delays) * 1e3,
            "kb": (rss1 - rss0) / viewers / 1024, "cpu_us": (cpu1 - cpu0) / viewers * 1e6}


async def linli_once(viewers: int) -> dict[str, float]:
    """linli's room: one `linli web` process (Redis and the worker apart), a host's flash start."""
    server = await start_server()
    try:
        sid, iid = await server.live_session(stock=100)
        return await _measure(
            server.proc.pid, lambda: Crowd.start(server, sid, viewers, GEN_PROCESSES, "fanout"),
            lambda: server.call("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": 600}), viewers)
    finally:
        await server.stop()


async def peer_once(kind: str, viewers: int) -> dict[str, float]:
    """One peer server process, the same crowd, its POST /flash."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.peer_servers", kind,
                                                "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    path = "/socket.io/?EIO=4&transport=websocket" if kind == "socketio" else "/ws"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(base + "/") as resp:
                        await resp.read()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)

            async def trigger() -> None:
                async with http.post(base + "/flash") as resp:
                    await resp.read()

            return await _measure(
                proc.pid, lambda: Crowd.at(base.replace("http", "ws") + path, SECRET, viewers, GEN_PROCESSES,
                                           "fanout"), trigger, viewers)
    finally:
        proc.terminate()
        await proc.wait()


async def peers(runs: int, sizes: list[int]) -> None:
    """Run every server at every size, ``runs`` times each, interleaved so noise falls on all alike."""
    names = ("linli", *PEERS)
    got: dict[tuple[str, int], list[dict[str, float]]] = {(n, s): [] for n in names for s in sizes}
    for size in sizes:
        for _ in range(runs):
            for name in names:
                got[(name, size)].append(await (linli_once(size) if name == "linli" else peer_once(name, size)))
    print(f"fan-out vs peers: call -> every viewer's flash_started, one server process each, {GEN_PROCESSES} uvloop "
          f"viewer processes, {os.cpu_count()} cores, median of {runs} runs")
    print(f"  {'server':<11} {'viewers':>7}  {'p50 ms':>7}  {'p99 ms':>7}  {'max ms':>7}  {'KB/viewer':>9}  "
          f"{'CPU µs/viewer':>13}  {'p99 vs best peer':>16}")
    for size in sizes:
        mid = {n: {k: median([r[k] for r in got[(n, size)]]) for k in ("p50", "p99", "max", "kb", "cpu_us")}
               for n in names}
        best = min(mid[p]["p99"] for p in PEERS)
        for name in names:
            m = mid[name]
            print(f"  {name:<11} {size:7,}  {m['p50']:7.1f}  {m['p99']:7.1f}  {m['max']:7.1f}  {m['kb']:9.1f}  "
                  f"{m['cpu_us']:13.1f}  {m['p99'] / best:15.2f}x")


def main() -> None:
    """``python -m bench.peers``, sized by BENCH_RUNS and BENCH_VIEWERS."""
    sizes = [int(s) for s in os.environ.get("BENCH_VIEWERS", "1000,5000,10000").split(",")]
    uvloop.run(peers(int(os.environ.get("BENCH_RUNS", "1")), sizes))


if __name__ == "__main__":
    main()
