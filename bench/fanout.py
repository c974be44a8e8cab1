"""Benchmark: from the host's flash start to each viewer's ``flash_started``, and memory per
idle viewer, on one web process; 1,000, 5,000 and 10,000 viewers by default.

    python -m bench.fanout     # or: linli bench fanout; BENCH_RUNS, BENCH_VIEWERS=1000,5000,10000
"""

from __future__ import annotations

import asyncio
import os

import uvloop

from bench.common import GEN_PROCESSES, median, percentile
from loadtest.harness import Crowd, Server, now, rss_bytes, start_server


async def fanout_once(server: Server, viewers: int) -> dict[str, float]:
    """One flash start seen by ``viewers`` websockets: delivery delays and memory per viewer."""
    sid, iid = await server.live_session(stock=100)
    rss0 = rss_bytes(server.proc.pid)
    crowd = await Crowd.start(server, sid, viewers, GEN_PROCESSES, "fanout")
    await asyncio.sleep(2)  # let viewer counts and join work settle
    rss1 = rss_bytes(server.proc.pid)
    t0 = now()
    await server.call("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": 600})
    results = await crowd.results()
    delays = [t - t0 for r in results for t in r["arrived"]]
    return {"p50": percentile(delays, 0.5) * 1e3, "p99": percentile(delays, 0.99) * 1e3, "max": max(delays) * 1e3,
            "per_viewer": (rss1 - rss0) / viewers}


async def fanout(runs: int, sizes: list[int]) -> None:
    """Run the benchmark for each crowd size and print one line per size."""
    rows = []
    for size in sizes:
        results = []
        for _ in range(runs):
            # A fresh server per run: ten thousand sockets closing must not weigh on the next run.
            server = await start_server()
            try:
                results.append(await fanout_once(server, size))
            finally:
                await server.stop()
        rows.append((size, results))
    print(f"fan-out: host's flash start -> flash_started received, one `linli web` process (worker apart), "
          f"{GEN_PROCESSES} uvloop viewer processes, {os.cpu_count()} cores, median of {runs} runs")
    for size, results in rows:
        print(f"  {size:6,} viewers   p50 {median([r['p50'] for r in results]):7.1f} ms   "
              f"p99 {median([r['p99'] for r in results]):7.1f} ms   "
              f"max {median([r['max'] for r in results]):7.1f} ms   "
              f"memory {median([r['per_viewer'] for r in results]) / 1024:5.1f} KB per idle viewer")


def main() -> None:
    """``python -m bench.fanout``, sized by BENCH_RUNS and BENCH_VIEWERS."""
    sizes = [int(s) for s in os.environ.get("BENCH_VIEWERS", "1000,5000,10000").split(",")]
    uvloop.run(fanout(int(os.environ.get("BENCH_RUNS", "3")), sizes))


if __name__ == "__main__":
    main()
