"""Drain every session's outbox stream into the SQL ``orders`` table.

Order of a pass, per stream: entries this consumer already holds (a restart under the
same name), entries idle too long in a dead consumer's hands (XAUTOCLAIM), then new
entries. Each batch is committed to SQL first and acknowledged (XACK, then XDEL to free
memory) after; a crash between the two leaves the entries pending, and since the order id
is the primary key, writing them again changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.tables import lucky_bag_draws, orders, points_ledger
from inventory import keys

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _ms_to_datetime(ms: bytes | str | int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def order_row(fields: dict[bytes, bytes]) -> dict[str, object]:
    """The SQL row an outbox entry describes."""
    f = _text(fields)
    status = {"reserved": "reserved", "released": "cancelled", "confirmed": "confirmed"}[f["event"]]
    return {
        "id": f["order"],
        "session_id": f["session"],
        "item_id": f["item"],
        "user_id": f["user"],
        "qty": int(f["qty"]),
        "price_cents": int(f["price"]),
        "kind": f["kind"],
        "status": status,
        "request_id": f["rid"],
        "reserved_at": _ms_to_datetime(f["ts"]),
        "updated_at": _ms_to_datetime(f.get("changed_ts", f["ts"])),
    }


def _text(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


def draw_rows(fields: dict[bytes, bytes]) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The audit row of a lucky-bag draw, and the points rows of its winners."""
    f = _text(fields)
    drawn_at = _ms_to_datetime(f["ts"])
    audit = {"bag_id": f["bag"], "session_id": f["session"], "title": f["title"], "seed": f["seed"],
             "entrants": f["entrants"], "winners": f["winners"], "prize_item_id": f["prize_item"] or None,
             "prize_points": int(f["prize_points"]), "drawn_at": drawn_at}
    points = [
        {"id": f"bag:{f['bag']}:{user}", "user_id": user, "session_id": f["session"],
         "points": int(f["prize_points"]), "reason": "lucky_bag", "created_at": drawn_at}
        for user in json.loads(f["winners"]) if int(f["prize_points"]) > 0
    ]
    return audit, points


def points_row(fields: dict[bytes, bytes]) -> dict[str, object]:
    f = _text(fields)
    return {"id": f["id"], "user_id": f["user"], "session_id": f["session"], "points": int(f["points"]),
            "reason": f["reason"], "created_at": _ms_to_datetime(f["ts"])}


class OutboxWorker:
    """One consumer in the ``orders`` group of every session outbox."""

    MAX_BATCHES_PER_PASS = 20

    def __init__(self, redis: Redis, engine: AsyncEngine, *, consumer: str | None = None,
                 batch: int = 500, claim_idle_ms: int = 30_000) -> None:
        self.redis = redis
        self.engine = engine
        self.consumer = consumer or default_consumer_name()
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self._groups: set[bytes] = set()
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._insert = dialect.insert

    async def streams(self) -> list[bytes]:
        return sorted(await self.redis.smembers(keys.OUTBOX_REGISTRY))

    async def _ensure_group(self, stream: bytes) -> None:
        if stream in self._groups:
            return
        try:
            await self.redis.xgroup_create(stream, keys.OUTBOX_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    async def read(self, stream: bytes) -> list[Entry]:
        """The next entries to write: own pending, then abandoned, then new."""
        await self._ensure_group(stream)
        own = await self.redis.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {stream: "0"}, count=self.batch)
        entries = [e for e in (own[0][1] if own else []) if e[1]]
        if entries:
            return entries
        claimed = await self.redis.xautoclaim(
            stream, keys.OUTBOX_GROUP, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        entries = [e for e in claimed[1] if e[1]]
        if entries:
            return entries
        fresh = await self.redis.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {stream: ">"}, count=self.batch)
        return list(fresh[0][1]) if fresh else []

    async def write(self, entries: Sequence[Entry]) -> None:
        """Commit the entries to SQL; safe to repeat (every row's key comes from the entry)."""
        reserved, changed, draws, points = [], [], [], []
        for _, fields in entries:
            event = fields[b"event"]
            if event == b"reserved":
                reserved.append(order_row(fields))
            elif event in (b"released", b"confirmed"):
                changed.append(order_row(fields))
            elif event == b"bag_drawn":
                audit, winners_points = draw_rows(fields)
                draws.append(audit)
                points += winners_points
            elif event == b"points":
                points.append(points_row(fields))
            else:
                log.error("unknown outbox event %r; acknowledged without writing", event)
        async with self.engine.begin() as conn:
            for table, key, rows in ((orders, "id", reserved), (lucky_bag_draws, "bag_id", draws),
                                     (points_ledger, "id", points)):
                if rows:
                    await conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=[key]), rows)
            # A status change carries the whole order: insert it if its reservation has not
            # arrived yet (pending in a dead consumer), else move the status on. A hold is
            # confirmed or released, never both, so the order of the two cannot matter.
            for row in changed:
                stmt = self._insert(orders).values(**row)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["id"], set_={"status": row["status"], "updated_at": row["updated_at"]}
                )
                await conn.execute(stmt)

    async def ack(self, stream: bytes, entries: Sequence[Entry]) -> None:
        ids = [entry_id for entry_id, _ in entries]
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(stream, keys.OUTBOX_GROUP, *ids)
        pipe.xdel(stream, *ids)
        await pipe.execute()

    async def drain_once(self) -> int:
        """One pass over every outbox; returns how many entries were written."""
        done = 0
        for stream in await self.streams():
            # Bounded per stream, so one busy sale cannot starve the others.
            for _ in range(self.MAX_BATCHES_PER_PASS):
                entries = await self.read(stream)
                if not entries:
                    break
                await self.write(entries)
                await self.ack(stream, entries)
                done += len(entries)
        return done

    async def run(self, stop: asyncio.Event, idle_sleep: float = 0.05) -> None:
        """Drain until stop is set; transient failures are logged and retried."""
        while not stop.is_set():
            try:
                written = await self.drain_once()
            except (OSError, RedisError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                log.warning("outbox drain failed, retrying: %s", exc)
                written = 0
                await asyncio.sleep(1)
            if not written:
                try:
                    await asyncio.wait_for(stop.wait(), idle_sleep)
                except TimeoutError:
                    pass
