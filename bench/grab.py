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
from dataclasses import dataclass

import uvloop

from bench.common import GEN_PROCESSES, median, percentile, start_web, start_worker, stop_web
from bench.reserve import plain_loop, redis_benchmark
from infra.ids import session_tag
from infra.redis_cluster import EmbeddedCluster
from infra.resources import redis_client
from inventory import Inventory, keys
from loadtest.harness import Crowd, Server, cpu_seconds, start_server

PLAIN_TASKS = 50


@dataclass
class Backend:
    """Where the web processes keep their state: one Redis server, or a cluster's nodes."""

    name: str
    url: str  # their REDIS_URL
    pids: list[int]  # the Redis server processes, whose CPU is counted


async def _sold(backend: Backend, sessions: list[tuple[str, str]]) -> int:
    """Units sold so far of every session's item (each grab takes one)."""
    inv = Inventory(redis_client(backend.url))
    try:
        sold = 0
        for sid, iid in sessions:
            sold += (await inv.snapshot(sid))[iid].sold
        return sold
    finally:
        await inv.redis.aclose()


async def _stocked_session(web: Server, backend: Backend) -> tuple[str, str]:
    sid, iid = await web.live_session(stock=10_000)
    inv = Inventory(redis_client(backend.url))
    for _ in range(200):  # enough stock that nobody hears sold_out during the run
        await inv.load_stock(sid, iid, add=10_000)
    await inv.redis.aclose()
    return sid, iid


async def _spread_sessions(web: Server, backend: Backend, cluster: EmbeddedCluster | None,
                           count: int) -> list[tuple[str, str]]:
    """``count`` stocked live sessions; on a cluster, each on another primary (by its hash tag's slot)."""
    sessions: dict[int, tuple[str, str]] = {}
    for n in range(200):
        sid, iid = await web.live_session(stock=1)
        owner = (await cluster.primary_of(session_tag(sid))).port if cluster else n
        sessions.setdefault(owner, (sid, iid))
        if len(sessions) == count:
            break
    picked = list(sessions.values())
    inv = Inventory(redis_client(backend.url))
    for sid, iid in picked:
        for _ in range(200):  # enough stock that nobody hears sold_out during the run
            await inv.load_stock(sid, iid, add=10_000)
    await inv.redis.aclose()
    return picked


async def _drained(backend: Backend, sessions: list[tuple[str, str]], within_s: float = 120) -> None:
    """Wait until the worker has written every order of these sessions to SQL: the next crowd's
    2,000 joins read SQL too, and on a small machine they timed out behind a worker still busy."""
    redis = redis_client(backend.url)
    try:
        for _ in range(int(within_s * 4)):
            groups = [g for sid, _ in sessions for g in await redis.xinfo_groups(keys.outbox(sid))]
            if groups and all(int(g.get("lag") or 0) == 0 and int(g["pending"]) == 0 for g in groups):
                return
            await asyncio.sleep(0.25)
    finally:
        await redis.aclose()


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


async def grab_once(webs: list[Server], backend: Backend, sessions: list[tuple[str, str]], grabbers: int,
                    seconds: float, think: float = 0) -> dict[str, float]:
    """One flash sale in each session with ``grabbers`` websockets spread evenly over ``webs`` and
    the sessions, grabbing for ``seconds``: rate, latency, and CPU of the web processes, Redis and
    the load generator."""
    groups = [(web, session) for web in webs for session in sessions]
    share, gens = -(-grabbers // len(groups)), max(1, GEN_PROCESSES // len(groups))
    crowds = [await Crowd.start(web, sid, min(share, grabbers - n * share), gens, "grab", item=iid,
                                seconds=seconds, think=think, first=n * share)
              for n, (web, (sid, iid)) in enumerate(groups) if grabbers > n * share]
    web_pids = [w.proc.pid for w in webs]
    sold0 = await _sold(backend, sessions)
    web0, redis0, gen0 = _cpu(web_pids), _cpu(backend.pids), sum(c.cpu() for c in crowds)
    for sid, iid in sessions:
        await webs[0].call("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": int(seconds) + 60})
    # The window closes while every grabber is still tapping, so CPU and grabs count the same work.
    await asyncio.sleep(seconds)
    web1, redis1, gen1 = _cpu(web_pids), _cpu(backend.pids), sum(c.cpu() for c in crowds)
    acked = max(1, await _sold(backend, sessions) - sold0)
    results = [r for c in crowds for r in await c.results()]
    latencies = [x for r in results for x in r["latencies"]]
    firsts = [x for r in results for x in r["first"]]
    await _drained(backend, sessions)
    return {"rate": acked / seconds, "p50": percentile(latencies, 0.5) * 1e3,
            "p99": percentile(latencies, 0.99) * 1e3, "first_p99": percentile(firsts, 0.99) * 1e3,
            "failures": sum(r["failures"] for r in results),
            "web_cpu": (web1 - web0) / seconds, "gen_cpu": (gen1 - gen0) / seconds,
            "per_grab": (web1 - web0) / acked, "redis_per_grab": (redis1 - redis0) / acked}


async def grab_baselines(server: Server, backend: Backend, seconds: float) -> dict[str, float]:
    """The same reserve script with no web process: a plain redis-py loop (its rate, its own
    process's CPU per call and Redis's) and redis-benchmark."""
    sid, iid = await _stocked_session(server, backend)
    redis = redis_client(backend.url)
    inv = Inventory(redis)
    await inv.open_sale(sid, iid)
    sold0, redis0 = await _sold(backend, [(sid, iid)]), _cpu(backend.pids)
    cpu0 = time.process_time()  # this process runs nothing else while the loop runs
    plain = await plain_loop(inv, seconds, PLAIN_TASKS, sid, iid)
    cpu1, redis1 = time.process_time(), _cpu(backend.pids)
    calls = max(1, await _sold(backend, [(sid, iid)]) - sold0)
    raw = await asyncio.to_thread(redis_benchmark, server.redis_port, inv.scripts.reserve_stock.sha,
                                  int(plain * seconds), PLAIN_TASKS, 1, sid, iid)
    await redis.aclose()
    return {"plain": plain, "per_call": (cpu1 - cpu0) / calls, "redis_per_call": (redis1 - redis0) / calls,
            "raw": raw if raw else float("nan")}


Samples = dict[str, list[dict[str, float]]]  # row label ("2": two web processes on one Redis) -> runs


def _row(label: str, samples: list[dict[str, float]], plain_cpu: float, one: float | None) -> str:
    def mid(key: str) -> float:
        return median([s[key] for s in samples])

    rate = mid("rate")
    scale = f"{rate / one:5.2f}x" if one else "    —"
    return (f"  {label:>10}  {rate:9,.0f}  {scale}  {mid('p50'):8.1f}  {mid('p99'):8.1f}  {mid('first_p99'):8.1f}"
            f"  {mid('web_cpu'):6.2f}"
            f"  {mid('per_grab') * 1e6:8.1f}  {mid('per_grab') / plain_cpu:6.2f}x  {mid('redis_per_grab') * 1e6:8.1f}"
            f"  {sum(s['failures'] for s in samples):4.0f}")


def report(runs: int, grabbers: int, seconds: float, think: float, sessions: int, closed: Samples,
           paced: Samples, base: list[dict[str, float]]) -> None:
    """Print the figures: one table per loop, a row per number of web processes (and backend), the
    baselines under them."""
    plain_cpu = median([b["per_call"] for b in base])
    print(f"grab path: {runs} runs x {seconds:g}s, {grabbers} websocket grabbers in uvloop processes spread "
          f"evenly over the web processes and {sessions} live session(s) (a worker apart), {os.cpu_count()} cores "
          "(median of runs)")
    head = ("         web     grabs/s  vs 1 web  p50 ms    p99 ms  1st p99  web cores  CPU/grab µs  vs plain"
            "  Redis µs/grab  fail")
    tables = [("closed loop: each grabber taps again as soon as it hears back", closed)]
    if think:
        tables.append((f"paced: each grabber pauses {think:g}s on average between taps", paced))
    for title, table in tables:
        print(f"  {title}")
        print(head)
        one = median([s["rate"] for s in table["1"]]) if "1" in table else None
        for label, samples in table.items():
            print(_row(label, samples, plain_cpu, one if label != "1" else None))
    gen = median([s["gen_cpu"] for samples in closed.values() for s in samples])
    print(f"  load generator (closed loop): {gen:.2f} cores")
    plain, redis_cpu = median([b["plain"] for b in base]), median([b["redis_per_call"] for b in base])
    print(f"  plain redis-py EVALSHA loop, {PLAIN_TASKS} tasks  {plain:9,.0f} reserves/s   "
          f"client CPU {plain_cpu * 1e6:.1f} µs per call   Redis {redis_cpu * 1e6:.1f} µs per call")
    raw = median([b["raw"] for b in base])
    if raw == raw:  # NaN when redis-benchmark is not installed
        print(f"  redis-benchmark EVALSHA -c {PLAIN_TASKS}            {raw:9,.0f} reserves/s")
    for label, samples in closed.items():
        rate = median([s["rate"] for s in samples])
        print(f"  {label} web: closed loop {rate / plain:.2f}x the plain loop's reserves/s, "
              f"CPU per grab {median([s['per_grab'] for s in samples]) / plain_cpu:.2f}x its client CPU per call")


async def _runs_on(server: Server, backend: Backend, cluster: EmbeddedCluster | None, n: int, grabbers: int,
                   seconds: float, think: float, sessions: int) -> tuple[dict[str, float], dict[str, float] | None]:
    """A closed-loop and a paced run with ``n`` web processes on ``backend``: the server's own web
    process and n - 1 more on one Redis, n new ones on a cluster."""
    extra = [await start_web(server, backend.url if cluster else None) for _ in range(n if cluster else n - 1)]
    webs = extra if cluster else [server, *extra]
    try:
        picked = await _spread_sessions(webs[0], backend, cluster, sessions)
        closed = await grab_once(webs, backend, picked, grabbers, seconds)
        paced = None
        if think:
            picked = await _spread_sessions(webs[0], backend, cluster, sessions)
            paced = await grab_once(webs, backend, picked, grabbers, seconds, think)
        return closed, paced
    finally:
        for web in extra:
            await stop_web(web)


async def grab(runs: int, grabbers: int, seconds: float, think: float = 1.0,
               web_counts: tuple[int, ...] = (1,), on_cluster: bool = False) -> None:
    """Run the benchmark for each number of web processes (on one Redis, and with ``on_cluster``
    on a cluster of 3 primaries too, the sessions spread over them) and print its figures beside
    the baselines."""
    server = await start_server()
    redis_proc = server.redis.process
    single = Backend("one Redis", server.redis.url, [redis_proc.pid] if redis_proc else [])
    cluster, worker = None, None
    closed: Samples = {}
    paced: Samples = {}
    base: list[dict[str, float]] = []
    sessions = 3 if on_cluster else 1
    try:
        backends: list[tuple[Backend, EmbeddedCluster | None]] = [(single, None)]
        if on_cluster:
            cluster = EmbeddedCluster(server.data / "cluster")
            url = await cluster.start()
            worker = await start_worker(server, url)
            backends.append((Backend("cluster", url, [n.process.pid for n in cluster.nodes if n.process]), cluster))
        for _ in range(runs):
            for backend, on in backends:
                for n in web_counts:
                    label = f"{n} cluster" if on else str(n)
                    c, p = await _runs_on(server, backend, on, n, grabbers, seconds, think, sessions)
                    closed.setdefault(label, []).append(c)
                    if p:
                        paced.setdefault(label, []).append(p)
            base.append(await grab_baselines(server, single, seconds))
    finally:
        if worker and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        if cluster:
            await cluster.stop()
        await server.stop()
    report(runs, grabbers, seconds, think, sessions, closed, paced, base)


def main() -> None:
    """``python -m bench.grab``, sized by BENCH_RUNS, BENCH_GRABBERS, BENCH_SECONDS and BENCH_WEB (e.g. 1,2,4)."""
    uvloop.run(grab(int(os.environ.get("BENCH_RUNS", "3")), int(os.environ.get("BENCH_GRABBERS", "2000")),
                    float(os.environ.get("BENCH_SECONDS", "5")),
                    web_counts=tuple(int(n) for n in os.environ.get("BENCH_WEB", "1,2,4").split(",")),
                    on_cluster=bool(os.environ.get("BENCH_CLUSTER"))))


if __name__ == "__main__":
    main()
