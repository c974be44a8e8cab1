"""Benchmark: websocket grabs through 1, 2 or 4 `linli web` processes on one Redis: grabs/s,
latency and CPU per grab, next to the reserve script's baselines (a plain redis-py loop and
redis-benchmark) against the same Redis in the same run.

CPU per grab is the web processes' CPU seconds over the grabs acknowledged in the same window
(the item's ``sold`` counter); beside it is the plain loop's client CPU per call (its process's
CPU over its calls). Where the load generator, Redis and the web processes share the cores,
grabs/s moves with everything else on the machine; the CPU per grab holds.

    python -m bench.grab       # or: linli bench grab; BENCH_RUNS, BENCH_GRABBERS, BENCH_SECONDS, BENCH_WEB
"""

from __future__ import annotations

import asyncio
import os
import time

import uvloop

from bench.common import GEN_PROCESSES, median, percentile, start_web, stop_web
from bench.reserve import plain_loop, redis_benchmark
from infra.resources import redis_client
from inventory import Inventory
from loadtest.harness import Crowd, Server, cpu_seconds, start_server

PLAIN_TASKS = 50


async def _sold(server: Server, sid: str, iid: str) -> int:
    inv = Inventory(redis_client(server.redis.url))
    try:
        return (await inv.snapshot(sid))[iid].sold
    finally:
        await inv.redis.aclose()


async def _stocked_session(server: Server) -> tuple[str, str]:
    sid, iid = await server.live_session(stock=10_000)
    inv = Inventory(redis_client(server.redis.url))
    for _ in range(200):  # enough stock that nobody hears sold_out during the run
        await inv.load_stock(sid, iid, add=10_000)
    await inv.redis.aclose()
    return sid, iid


def _redis_cpu(server: Server) -> float:
    proc = server.redis.process
    return cpu_seconds(proc.pid) if proc else 0.0


async def grab_once(webs: list[Server], grabbers: int, seconds: float, think: float = 0) -> dict[str, float]:
    """One flash sale with ``grabbers`` websockets spread evenly over ``webs``, grabbing for
    ``seconds``: rate, latency, and CPU of the web processes, Redis and the load generator."""
    server = webs[0]
    sid, iid = await _stocked_session(server)
    share, gens = -(-grabbers // len(webs)), max(1, GEN_PROCESSES // len(webs))
    crowds = [await Crowd.start(web, sid, min(share, grabbers - n * share), gens, "grab", item=iid,
                                seconds=seconds, think=think, first=n * share)
              for n, web in enumerate(webs) if grabbers > n * share]
    sold0 = await _sold(server, sid, iid)
    web0, redis0, gen0 = sum(cpu_seconds(w.proc.pid) for w in webs), _redis_cpu(server), sum(c.cpu() for c in crowds)
    await server.call("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": int(seconds) + 60})
    # The window closes while every grabber is still tapping, so CPU and grabs count the same work.
    await asyncio.sleep(seconds)
    web1, redis1, gen1 = sum(cpu_seconds(w.proc.pid) for w in webs), _redis_cpu(server), sum(c.cpu() for c in crowds)
    acked = max(1, await _sold(server, sid, iid) - sold0)
    results = [r for c in crowds for r in await c.results()]
    latencies = [x for r in results for x in r["latencies"]]
    return {"rate": acked / seconds, "p50": percentile(latencies, 0.5) * 1e3,
            "p99": percentile(latencies, 0.99) * 1e3, "failures": sum(r["failures"] for r in results),
            "web_cpu": (web1 - web0) / seconds, "gen_cpu": (gen1 - gen0) / seconds,
            "per_grab": (web1 - web0) / acked, "redis_per_grab": (redis1 - redis0) / acked}


async def grab_baselines(server: Server, seconds: float) -> dict[str, float]:
    """The same reserve script with no web process: a plain redis-py loop (its rate, its own
    process's CPU per call and Redis's) and redis-benchmark."""
    sid, iid = await _stocked_session(server)
    redis = redis_client(server.redis.url)
    inv = Inventory(redis)
    await inv.open_sale(sid, iid)
    sold0, redis0 = await _sold(server, sid, iid), _redis_cpu(server)
    cpu0 = time.process_time()  # this process runs nothing else while the loop runs
    plain = await plain_loop(inv, seconds, PLAIN_TASKS, sid, iid)
    cpu1, redis1 = time.process_time(), _redis_cpu(server)
    calls = max(1, await _sold(server, sid, iid) - sold0)
    raw = await asyncio.to_thread(redis_benchmark, server.redis_port, inv.scripts.reserve_stock.sha,
                                  int(plain * seconds), PLAIN_TASKS, 1, sid, iid)
    await redis.aclose()
    return {"plain": plain, "per_call": (cpu1 - cpu0) / calls, "redis_per_call": (redis1 - redis0) / calls,
            "raw": raw if raw else float("nan")}


def _row(label: str, samples: list[dict[str, float]], plain_cpu: float, one: float | None) -> str:
    def mid(key: str) -> float:
        return median([s[key] for s in samples])

    rate = mid("rate")
    scale = f"{rate / one:5.2f}x" if one else "    —"
    return (f"  {label:>4}  {rate:9,.0f}  {scale}  {mid('p50'):8.1f}  {mid('p99'):8.1f}  {mid('web_cpu'):6.2f}"
            f"  {mid('per_grab') * 1e6:8.1f}  {mid('per_grab') / plain_cpu:6.2f}x  {mid('redis_per_grab') * 1e6:8.1f}"
            f"  {sum(s['failures'] for s in samples):4.0f}")


def report(runs: int, grabbers: int, seconds: float, think: float, web_counts: list[int],
           closed: dict[int, list[dict[str, float]]], paced: dict[int, list[dict[str, float]]],
           base: list[dict[str, float]]) -> None:
    """Print the figures: one table per loop, a row per number of web processes, the baselines under them."""
    plain_cpu = median([b["per_call"] for b in base])
    print(f"grab path: {runs} runs x {seconds:g}s, {grabbers} websocket grabbers in {GEN_PROCESSES} uvloop "
          f"processes spread evenly over the web processes (one Redis, a worker apart), {os.cpu_count()} cores "
          "(median of runs)")
    head = ("   web     grabs/s  vs 1 web  p50 ms    p99 ms  web cores  CPU/grab µs  vs plain  Redis µs/grab  fail")
    tables = [("closed loop: each grabber taps again as soon as it hears back", closed)]
    if think:
        tables.append((f"paced: each grabber pauses {think:g}s on average between taps", paced))
    for title, table in tables:
        print(f"  {title}")
        print(head)
        one = median([s["rate"] for s in table[1]]) if 1 in table else None
        for n in web_counts:
            print(_row(str(n), table[n], plain_cpu, one if n != 1 else None))
    gen = median([s["gen_cpu"] for n in web_counts for s in closed[n]])
    print(f"  load generator (closed loop): {gen:.2f} cores")
    plain, redis_cpu = median([b["plain"] for b in base]), median([b["redis_per_call"] for b in base])
    print(f"  plain redis-py EVALSHA loop, {PLAIN_TASKS} tasks  {plain:9,.0f} reserves/s   "
          f"client CPU {plain_cpu * 1e6:.1f} µs per call   Redis {redis_cpu * 1e6:.1f} µs per call")
    raw = median([b["raw"] for b in base])
    if raw == raw:  # NaN when redis-benchmark is not installed
        print(f"  redis-benchmark EVALSHA -c {PLAIN_TASKS}            {raw:9,.0f} reserves/s")
    for n in web_counts:
        rate = median([s["rate"] for s in closed[n]])
        print(f"  {n} web: closed loop {rate / plain:.2f}x the plain loop's reserves/s, "
              f"CPU per grab {median([s['per_grab'] for s in closed[n]]) / plain_cpu:.2f}x its client CPU per call")


async def grab(runs: int, grabbers: int, seconds: float, think: float = 1.0,
               web_counts: tuple[int, ...] = (1,)) -> None:
    """Run the benchmark for each number of web processes and print its figures beside the baselines."""
    server = await start_server()
    closed: dict[int, list[dict[str, float]]] = {n: [] for n in web_counts}
    paced: dict[int, list[dict[str, float]]] = {n: [] for n in web_counts}
    base: list[dict[str, float]] = []
    try:
        for _ in range(runs):
            for n in web_counts:
                extra = [await start_web(server) for _ in range(n - 1)]
                try:
                    closed[n].append(await grab_once([server, *extra], grabbers, seconds))
                    if think:
                        paced[n].append(await grab_once([server, *extra], grabbers, seconds, think))
                finally:
                    for web in extra:
                        await stop_web(web)
            base.append(await grab_baselines(server, seconds))
    finally:
        await server.stop()
    report(runs, grabbers, seconds, think, list(web_counts), closed, paced, base)


def main() -> None:
    """``python -m bench.grab``, sized by BENCH_RUNS, BENCH_GRABBERS, BENCH_SECONDS and BENCH_WEB (e.g. 1,2,4)."""
    uvloop.run(grab(int(os.environ.get("BENCH_RUNS", "3")), int(os.environ.get("BENCH_GRABBERS", "2000")),
                    float(os.environ.get("BENCH_SECONDS", "5")),
                    web_counts=tuple(int(n) for n in os.environ.get("BENCH_WEB", "1,2,4").split(","))))


if __name__ == "__main__":
    main()
