"""Benchmark: from the host's flash start to each viewer's ``flash_started``, and memory per
idle viewer, on one web process or one room spread over several; 1,000, 5,000 and 10,000 viewers
by default.

    python -m bench.fanout     # or: linli bench fanout [--web 1,2]; BENCH_RUNS, BENCH_VIEWERS, BENCH_WEB
"""

from __future__ import annotations

import asyncio
import os

import uvloop

from bench.common import GEN_PROCESSES, median, percentile, start_web, stop_web
from loadtest.harness import Crowd, Server, cpu_seconds, now, rss_bytes, start_server


async def fanout_once(server: Server, viewers: int, webs: int = 1) -> dict[str, float]:
    """One flash start seen by ``viewers`` websockets spread evenly over ``webs`` web processes on
    the same Redis: delivery delays, memory per viewer (every web process's RSS growth) and the web
    processes' CPU from the call to the last receipt per viewer (what holds on a shared machine)."""
    extra = [await start_web(server) for _ in range(webs - 1)]
    try:
        procs = [server, *extra]
        sid, iid = await server.live_session(stock=100)
        rss0 = sum(rss_bytes(w.proc.pid) for w in procs)
        share, gens = -(-viewers // webs), max(1, GEN_PROCESSES // webs)
        crowds = [await Crowd.start(w, sid, min(share, viewers - n * share), gens, "fanout", first=n * share)
                  for n, w in enumerate(procs) if viewers > n * share]
        await asyncio.sleep(2)  # let viewer counts and join work settle
        rss1 = sum(rss_bytes(w.proc.pid) for w in procs)
        cpu0 = sum(cpu_seconds(w.proc.pid) for w in procs)
        t0 = now()
        await server.call("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": 600})
        delays = [t - t0 for crowd in crowds for r in await crowd.reports() for t in r["arrived"]]
        cpu1 = sum(cpu_seconds(w.proc.pid) for w in procs)
        for crowd in crowds:
            await crowd.ended()
    finally:
        for web in extra:
            await stop_web(web)
    return {"p50": percentile(delays, 0.5) * 1e3, "p99": percentile(delays, 0.99) * 1e3, "max": max(delays) * 1e3,
            "per_viewer": (rss1 - rss0) / viewers, "cpu_us": (cpu1 - cpu0) / viewers * 1e6}


async def fanout(runs: int, sizes: list[int], web_counts: list[int] | None = None) -> None:
    """Run the benchmark for each crowd size and number of web processes; print one line each."""
    web_counts = web_counts or [1]
    rows = []
    for size in sizes:
        for webs in web_counts:
            results = []
            for _ in range(runs):
                # A fresh server per run: ten thousand sockets closing must not weigh on the next run.
                server = await start_server()
                try:
                    results.append(await fanout_once(server, size, webs))
                finally:
                    await server.stop()
            rows.append((size, webs, results))
    print(f"fan-out: host's flash start -> flash_started received, `linli web` processes on one Redis (worker "
          f"apart), {GEN_PROCESSES} uvloop viewer processes, {os.cpu_count()} cores, median of {runs} runs")
    for size, webs, results in rows:
        print(f"  {size:6,} viewers on {webs} web   p50 {median([r['p50'] for r in results]):7.1f} ms   "
              f"p99 {median([r['p99'] for r in results]):7.1f} ms   "
              f"max {median([r['max'] for r in results]):7.1f} ms   "
              f"memory {median([r['per_viewer'] for r in results]) / 1024:5.1f} KB per idle viewer   "
              f"web CPU {median([r['cpu_us'] for r in results]):5.1f} µs per viewer")


def main() -> None:
    """``python -m bench.fanout``, sized by BENCH_RUNS, BENCH_VIEWERS and BENCH_WEB."""
    sizes = [int(s) for s in os.environ.get("BENCH_VIEWERS", "1000,5000,10000").split(",")]
    webs = [int(n) for n in os.environ.get("BENCH_WEB", "1").split(",")]
    uvloop.run(fanout(int(os.environ.get("BENCH_RUNS", "3")), sizes, webs))


if __name__ == "__main__":
    main()
