"""Benchmark: websocket grabs/s and latency through one web process, next to the reserve
script's baselines (a plain redis-py loop and redis-benchmark) against the same Redis.

    python -m bench.grab       # or: linli bench grab; BENCH_RUNS, BENCH_GRABBERS, BENCH_SECONDS
"""

from __future__ import annotations

import asyncio
import os

import uvloop

from bench.common import GEN_PROCESSES, median, percentile
from bench.reserve import plain_loop, redis_benchmark
from infra.resources import redis_client
from inventory import Inventory
from loadtest.harness import Crowd, Server, cpu_seconds, start_server


async def grab_once(server: Server, grabbers: int, seconds: float, think: float = 0) -> dict[str, float]:
    """One flash sale with ``grabbers`` websockets grabbing for ``seconds``: rate, latency, CPU."""
    sid, iid = await server.live_session(stock=10_000)
    inv = Inventory(redis_client(f"redis://127.0.0.1:{server.redis_port}/0"))
    for _ in range(200):  # enough stock that nobody hears sold_out during the run
        await inv.load_stock(sid, iid, add=10_000)
    await inv.redis.aclose()
    crowd = await Crowd.start(server, sid, grabbers, GEN_PROCESSES, "grab", item=iid, seconds=seconds, think=think)
    srv0, gen0 = cpu_seconds(server.proc.pid), crowd.cpu()
    await server.call("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": int(seconds) + 60})
    await asyncio.sleep(seconds + 0.5)
    srv1, gen1 = cpu_seconds(server.proc.pid), crowd.cpu()
    results = await crowd.results()
    latencies = [x for r in results for x in r["latencies"]]
    elapsed = max(r["elapsed"] for r in results)
    return {"rate": len(latencies) / elapsed, "p50": percentile(latencies, 0.5) * 1e3,
            "p99": percentile(latencies, 0.99) * 1e3, "failures": sum(r["failures"] for r in results),
            "server_cpu": (srv1 - srv0) / seconds, "gen_cpu": (gen1 - gen0) / seconds}


async def grab_baselines(server: Server, seconds: float) -> tuple[float, float | None]:
    """The same reserve script with no web process: a plain redis-py loop and redis-benchmark."""
    sid, iid = await server.live_session(stock=10_000)
    redis = redis_client(f"redis://127.0.0.1:{server.redis_port}/0")
    inv = Inventory(redis)
    for _ in range(200):
        await inv.load_stock(sid, iid, add=10_000)
    await inv.open_sale(sid, iid)
    plain = await plain_loop(inv, seconds, 50, sid, iid)
    raw = await asyncio.to_thread(redis_benchmark, server.redis_port, inv.scripts.reserve_stock.sha,
                                  int(plain * seconds), 50, 1, sid, iid)
    await redis.aclose()
    return plain, raw


async def grab(runs: int, grabbers: int, seconds: float, think: float = 1.0) -> None:
    """Run the benchmark and print its figures: closed loop, paced, and the baselines."""
    server = await start_server()
    try:
        ours, paced, plain, raw = [], [], [], []
        for _ in range(runs):
            ours.append(await grab_once(server, grabbers, seconds))
            paced.append(await grab_once(server, grabbers, seconds, think))
            p, r = await grab_baselines(server, seconds)
            plain.append(p)
            if r:
                raw.append(r)
    finally:
        await server.stop()
    rate = median([o["rate"] for o in ours])
    print(f"grab path: {runs} runs x {seconds:g}s, {grabbers} websocket grabbers in {GEN_PROCESSES} uvloop "
          f"processes, one `linli web` process (worker apart), {os.cpu_count()} cores (median of runs)")
    print("  closed loop: each grabber taps again as soon as it hears back (saturation)")
    print(f"  websocket grabs end to end  {rate:10,.0f} grabs/s   p50 {median([o['p50'] for o in ours]):.1f} ms   "
          f"p99 {median([o['p99'] for o in ours]):.1f} ms   failures {sum(o['failures'] for o in ours)}")
    print(f"  paced: each grabber pauses {think:g}s on average between taps")
    print(f"  websocket grabs end to end  {median([o['rate'] for o in paced]):10,.0f} grabs/s   "
          f"p50 {median([o['p50'] for o in paced]):.1f} ms   p99 {median([o['p99'] for o in paced]):.1f} ms   "
          f"failures {sum(o['failures'] for o in paced)}")
    print(f"  CPU (closed loop): server {median([o['server_cpu'] for o in ours]):.2f} cores, "
          f"load generator {median([o['gen_cpu'] for o in ours]):.2f} cores")
    print(f"  plain redis-py EVALSHA loop {median(plain):10,.0f} reserves/s   ratio {rate / median(plain):.2f}x")
    if raw:
        print(f"  redis-benchmark EVALSHA     {median(raw):10,.0f} reserves/s   ratio {rate / median(raw):.2f}x")


def main() -> None:
    """``python -m bench.grab``, sized by BENCH_RUNS, BENCH_GRABBERS and BENCH_SECONDS."""
    uvloop.run(grab(int(os.environ.get("BENCH_RUNS", "3")), int(os.environ.get("BENCH_GRABBERS", "2000")),
                    float(os.environ.get("BENCH_SECONDS", "5"))))


if __name__ == "__main__":
    main()
