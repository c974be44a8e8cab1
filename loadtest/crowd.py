"""One load-generator process for the websocket benchmarks (asyncio + uvloop).

It opens ``--count`` viewer connections to a live session, says ``ready`` on stdout, and then:

- fanout: waits for ``flash_started`` on every connection and records when each arrived;
- grab: once ``flash_started`` arrives, every connection grabs in a loop (send, wait for its
  ``grab_result``, pause ``--think`` seconds on average, send again) for ``--seconds``,
  recording each grab's latency, and each grabber's first apart (sent as the flash starts, all
  at once in the closed loop: the rush a flash sale opens with). With no think time the loop is
  closed (a saturation test), at most 8 taps a second per grabber so none is refused by the
  per-user limit.

It ends by printing one JSON line of results. Run by ``bench.grab`` and ``bench.fanout``;
several run at once so the load generator is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.auth import issue_token

CONNECT_AT_ONCE = 200
# A closed-loop grabber taps again as soon as she hears back, but no more than 8 times a second: the
# per-user grab limit is 10 a second, and refused grabs would cost the server CPU that no sold unit
# counts (a fast server answering in under 100 ms made hundreds of them a run).
MIN_TAP_S = 0.125


async def _open(url: str, count: int, first: int, secret: str, community: str,
                watch: Callable[[ClientConnection], None] | None = None) -> list[ClientConnection]:
    """Open connections in waves, so the server's accept backlog never overflows; ``watch`` starts
    reading each one as soon as it is open."""
    conns: list[ClientConnection] = []
    for start in range(0, count, CONNECT_AT_ONCE):
        wave = []
        for n in range(first + start, first + min(count, start + CONNECT_AT_ONCE)):
            tok = issue_token(secret, user_id=f"b{n}", role="resident", community_id=community, ttl_s=3600)
            wave.append(connect(url, additional_headers={"Authorization": f"Bearer {tok}"}, max_size=2**22,
                                open_timeout=60, ping_interval=None, compression=None))
        for ws in await asyncio.gather(*wave):
            await ws.recv()  # the snapshot (a Socket.IO server's first frame is its engine.io "open")
            if "/socket.io/" in url:  # a Socket.IO server (bench.peers): join its default namespace
                await ws.send("40")
                await ws.recv()
            conns.append(ws)
            if watch is not None:
                watch(ws)
    return conns


async def _until_flash(ws: ClientConnection) -> float:
    while True:
        raw = await ws.recv()
        if '"flash_started"' in raw:
            return time.time()
        if raw == "2":  # an engine.io ping (bench.peers' Socket.IO server): unanswered, it hangs up
            await ws.send("3")


async def _discard(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


async def grab(conns: list[ClientConnection], item: str, seconds: float, think: float) -> dict[str, object]:
    latencies: list[float] = []
    firsts: list[float] = []  # each grabber's first grab, sent as the flash starts: the crowd's rush
    failures = 0

    async def one(ws: ClientConnection) -> None:
        nonlocal failures
        await _until_flash(ws)
        stop_at = time.monotonic() + seconds
        first = True
        if think:
            await asyncio.sleep(random.uniform(0, 2 * think))  # residents react at different moments
        while time.monotonic() < stop_at:
            rid = uuid.uuid4().hex
            t0 = time.perf_counter()
            next_tap = time.monotonic() + MIN_TAP_S
            await ws.send(f'{{"type":"grab","item_id":"{item}","qty":1,"request_id":"{rid}"}}')
            while True:  # stock and viewer events interleave with the answer
                raw = await ws.recv()
                if '"grab_result"' in raw or ('"error"' in raw and rid in raw):
                    break
            latencies.append(time.perf_counter() - t0)
            if first:
                firsts.append(latencies[-1])
                first = False
            if '"ok":true' not in raw:
                failures += 1
            if think:
                await asyncio.sleep(random.uniform(0, 2 * think))  # a resident's pause between taps
            elif (wait := next_tap - time.monotonic()) > 0:
                await asyncio.sleep(wait)

    started = time.perf_counter()
    await asyncio.gather(*(one(ws) for ws in conns))
    return {"latencies": latencies, "first": firsts, "failures": failures, "elapsed": time.perf_counter() - started}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--community", required=True)
    ap.add_argument("--mode", choices=["fanout", "grab", "idle"], required=True)
    ap.add_argument("--item", default="i1")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--think", type=float, default=0, help="mean pause between one grabber's taps (0: none)")
    args = ap.parse_args()
    # Watching and idle connections read from the start: a connection that reads nothing stops
    # reading its socket once websockets' queue is full, and then never answers the server's pings
    # (a slow connection phase of ten thousand viewers outlasts aiohttp's heartbeat).
    readers: list[asyncio.Task[Any]] = []
    reading: dict[str, Callable[[ClientConnection], Awaitable[Any]]] = {"fanout": _until_flash, "idle": _discard}

    def watch(ws: ClientConnection) -> None:
        readers.append(asyncio.ensure_future(reading[args.mode](ws)))

    conns = await _open(args.url, args.count, args.first, args.secret, args.community,
                        watch if args.mode in reading else None)
    # The open connections are left out of later collections: a full one scans them all (100-200 ms for
    # 2,500), and one falling while the flash arrives would be counted as the server's delay.
    gc.collect()
    gc.freeze()
    print("ready", flush=True)
    if args.mode == "fanout":
        result: dict[str, object] = {"arrived": await asyncio.gather(*readers)}
    elif args.mode == "grab":
        result = await grab(conns, args.item, args.seconds, args.think)
    else:  # idle: hold the connections until told to stop
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        result = {}
    print(json.dumps(result), flush=True)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


if __name__ == "__main__":
    uvloop.run(main())
