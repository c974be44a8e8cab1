"""Benchmark: what resuming saves when a 10,000-viewer room comes back from a network blip.

Every viewer of a busy room (20 items with pictures) drops for a few seconds while the room
goes on (stock ticks, comments, viewer counts: ``BLIP_EVENTS`` events), then all reconnect at once.
Each reconnect is answered either the old way, with a fresh snapshot, or with ``resumed`` and the
missed events from the session's history. Both answers are built by the web process's own code
(stream.reconnect: the snapshot and the resume answers) against a real Redis and SQL, 200 viewers
at a time as a reconnect storm arrives; the figures are the bytes sent, the web process's CPU time
and the wall time for all viewers, and the Redis server's CPU time. The websocket handshake and the
socket writes are left out: the same number of connections either way, and writes grow with bytes.

    python -m bench.resume     # or: linli bench resume; BENCH_RUNS, BENCH_VIEWERS=10000, BENCH_BLIP=40
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from bench.common import median, redis_url, sql_engine, sql_url, temp_folder
from infra.auth import Principal
from infra.resources import redis_client
from infra.tables import communities
from stream.api import (
    NewItem,
    add_item,
    create_session,
    go_live,
    last_seq,
    resume_answer,
    running_live,
    snapshot_answer,
)

BATCH = 200  # reconnects served at once: a storm arrives faster than one process answers it
HOST = Principal(user_id="host1", role="host", community_id="c1")


class Comment(msgspec.Struct, tag="comment", tag_field="type", kw_only=True):
    """A resident's comment as the room publishes it (stream.protocol.CommentEvent)."""

    text: str
    user_id: str
    name: str
    role: str


async def _redis_cpu_s(redis: Redis) -> float:
    info: dict[str, Any] = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _room(live: Any) -> tuple[Any, int]:
    """A busy live session; returns its state and the seq every viewer had before the blip."""
    state = await create_session(live, HOST, "周六助农直播", "c1")
    for n in range(20):
        await add_item(live, state.id, NewItem(title=f"商品{n}号 海鸭蛋礼盒", price_cents=2800 + n, stock=500,
                                               per_user_limit=2, unit="盒",
                                               image_url=f"https://img.example.com/items/{n}.jpg"))
    await go_live(live, state)
    return state, await last_seq(live, state.id)


async def _blip(live: Any, sid: str, events: int) -> None:
    """What a busy room publishes while its viewers are away: stock ticks, comments, a viewer count."""
    for n in range(events):
        if n % 3 == 0:
            await live.publisher.publish(sid, Comment(text=f"红薯还有吗{n}", user_id=f"v{n}", name="王*香",
                                                      role="resident"))
        else:
            await live.stock.publish_now(sid, f"i{n % 20 + 1}")


async def _serve(viewers: int, answer: Any) -> tuple[int, float, float]:
    """(bytes, process CPU s, wall s) of answering every viewer, BATCH at a time."""
    sent = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, viewers, BATCH):
        for frames in await asyncio.gather(*(answer(f"v{n}") for n in range(start, min(viewers, start + BATCH)))):
            sent += sum(len(f) for f in frames)
    return sent, time.process_time() - cpu0, time.perf_counter() - wall0


async def resume_once(viewers: int, blip: int) -> dict[str, float]:
    """One blip in one room: the snapshot and the resume answers for every viewer, side by side."""
    with temp_folder("linli-bench-resume-") as folder:
        async with redis_url(folder) as url, sql_engine(sql_url(folder, "resume.db")) as engine:
            redis = redis_client(url)
            try:
                await redis.flushdb()
                async with engine.begin() as conn:
                    await conn.execute(communities.insert().values(id="c1", name="幸福里",
                                                                   created_at=datetime.now(UTC)))
                async with running_live(redis, engine) as live:
                    state, before = await _room(live)
                    await _blip(live, state.id, blip)

                    async def snapshot(user: str) -> list[bytes]:
                        return await snapshot_answer(live, state.id, user)

                    async def resumed(user: str) -> list[bytes]:
                        frames = await resume_answer(live, state.id, user, "resident", before)
                        assert frames is not None, "the history should cover the blip"
                        return frames

                    out: dict[str, float] = {}
                    for name, answer in (("snapshot", snapshot), ("resume", resumed)):
                        redis0 = await _redis_cpu_s(redis)
                        sent, cpu, wall = await _serve(viewers, answer)
                        out |= {f"{name}_bytes": sent, f"{name}_cpu": cpu, f"{name}_wall": wall,
                                f"{name}_redis": await _redis_cpu_s(redis) - redis0}
                    return out
            finally:
                await redis.aclose()


async def main(runs: int, viewers: int, blip: int) -> None:
    """Print the snapshot and resume figures beside each other, median of ``runs``."""
    results = [await resume_once(viewers, blip) for _ in range(runs)]

    def m(key: str) -> float:
        return median(r[key] for r in results)

    print(f"resume vs snapshot: {viewers:,} viewers reconnect after a blip of {blip} events; one process's "
          f"code paths against Redis and SQLite, {BATCH} at a time, {os.cpu_count()} cores, median of {runs} runs")
    print(f"  {'':10} {'bytes sent':>14} {'per viewer':>11} {'web CPU':>9} {'wall':>8} {'Redis CPU':>10}")
    for name in ("snapshot", "resume"):
        print(f"  {name:10} {m(f'{name}_bytes') / 1e6:11.1f} MB {m(f'{name}_bytes') / viewers:9,.0f} B "
              f"{m(f'{name}_cpu'):7.2f} s {m(f'{name}_wall'):6.2f} s {m(f'{name}_redis'):8.2f} s")
    print(f"  resume / snapshot: bytes {m('resume_bytes') / m('snapshot_bytes'):.2f}x, "
          f"web CPU {m('resume_cpu') / m('snapshot_cpu'):.2f}x, wall {m('resume_wall') / m('snapshot_wall'):.2f}x, "
          f"Redis CPU {m('resume_redis') / max(m('snapshot_redis'), 1e-9):.2f}x")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(os.environ.get("BENCH_RUNS", "3")), int(os.environ.get("BENCH_VIEWERS", "10000")),
                    int(os.environ.get("BENCH_BLIP", "40"))))
