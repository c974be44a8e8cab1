"""Drain every session's outbox stream into the SQL ``orders`` table.

Order of a pass, per stream: entries this consumer already holds (a restart under the
same name), entries idle too long in a dead consumer's hands (XAUTOCLAIM), then new
entries. Each batch is committed to SQL first and acknowledged (XACK, then XDEL to free
memory) after; a crash between the two leaves the entries pending, and since the order id
is the primary key, writing them again changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.api import record_action
from infra import metrics
from infra.auth import Principal
from infra.tables import live_sessions, lucky_bag_draws, orders, points_ledger, session_items
from inventory import outbox
from orders.outbox_backlog import Backlog

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]


def _entries_of(reply: object) -> list[Any]:
    """The entries of a one-stream XREADGROUP reply: [[stream, entries]] in RESP2, which our clients speak."""
    if not reply:
        return []
    if not isinstance(reply, list):
        raise TypeError(f"expected a RESP2 stream reply, got {type(reply).__name__}")
    return list(reply[0][1])


def _with_fields(entries: list[Any]) -> list[Entry]:
    """The entries that still have fields: one deleted (XDEL) while pending comes back as (id, None)."""
    return [(entry_id, fields) for entry_id, fields in entries if fields]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


ORDER_STATUS = {outbox.Reserved: "reserved", outbox.Released: "cancelled", outbox.Confirmed: "confirmed"}


def order_row(entry: outbox.Reserved | outbox.Released | outbox.Confirmed) -> dict[str, object]:
    """The SQL row an order entry describes."""
    changed = entry.ts if isinstance(entry, outbox.Reserved) else entry.changed_ts
    row: dict[str, object] = {
        "id": entry.order,
        "session_id": entry.session,
        "item_id": entry.item,
        "user_id": entry.user,
        "qty": entry.qty,
        "price_cents": entry.price,
        "kind": entry.kind,
        "status": ORDER_STATUS[type(entry)],
        "request_id": entry.rid,
        "reserved_at": _ms_to_datetime(entry.ts),
        "updated_at": _ms_to_datetime(changed),
    }
    if isinstance(entry, outbox.Reserved):
        row["proxy_by"] = entry.proxy or None
    return row


def proxy_audit_detail(row: dict[str, object], title: str = "", unit: str = "") -> dict[str, object]:
    """What the resident's audit log says of an order a grid worker placed for her (with the item's
    title and unit as they were, so her page reads 红薯 2斤 even after the session is gone)."""
    detail = {key: row[column] for key, column in (("order_id", "id"), ("session_id", "session_id"),
                                                   ("item_id", "item_id"), ("qty", "qty"),
                                                   ("price_cents", "price_cents"))}
    return {**detail, "title": title, "unit": unit}


def draw_rows(entry: outbox.BagDrawn) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The audit row of a lucky-bag draw, and the points rows of its winners."""
    drawn_at = _ms_to_datetime(entry.ts)
    audit: dict[str, object] = {
        "bag_id": entry.bag, "session_id": entry.session, "title": entry.title, "seed": entry.seed,
        "entrants": entry.entrants, "winners": entry.winners, "prize_item_id": entry.prize_item or None,
        "prize_points": entry.prize_points, "drawn_at": drawn_at,
        "seed_hash": entry.seed_hash or None, "rule": entry.rule or None, "draw_options": entry.options or None}
    points: list[dict[str, object]] = [
        {"id": f"bag:{entry.bag}:{user}", "user_id": user, "session_id": entry.session,
         "points": entry.prize_points, "reason": "lucky_bag", "created_at": drawn_at}
        for user in json.loads(entry.winners) if entry.prize_points > 0
    ]
    return audit, points


def points_row(entry: outbox.PointsAwarded) -> dict[str, object]:
    return {"id": entry.id, "user_id": entry.user, "session_id": entry.session, "points": entry.points,
            "reason": entry.reason, "created_at": _ms_to_datetime(entry.ts)}


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
        self.backlog = Backlog(redis)

    async def streams(self) -> list[bytes]:
        return sorted(s.encode() if isinstance(s, str) else s for s in await self.redis.smembers(outbox.REGISTRY))

    async def _ensure_group(self, stream: bytes) -> None:
        if stream in self._groups:
            return
        try:
            await self.redis.xgroup_create(stream, outbox.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    async def read(self, stream: bytes) -> list[Entry]:
        """The next entries to write: own pending, then abandoned, then new."""
        await self._ensure_group(stream)
        try:
            own = await self.redis.xreadgroup(outbox.GROUP, self.consumer, {stream: "0"}, count=self.batch)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                # The group is gone from under us (a failover to a replica that never got it, a restore
                # from an older file): make it again on the next pass rather than fail forever.
                self._groups.discard(stream)
            raise
        entries = await self._live_entries(stream, _entries_of(own))
        if entries:
            return entries
        claimed = await self.redis.xautoclaim(
            stream, outbox.GROUP, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        entries = await self._live_entries(stream, claimed[1])
        if entries:
            return entries
        fresh = await self.redis.xreadgroup(outbox.GROUP, self.consumer, {stream: ">"}, count=self.batch)
        return _with_fields(_entries_of(fresh))

    async def _live_entries(self, stream: bytes, pending: list[Any]) -> list[Entry]:
        """Pending entries that still have fields; one deleted while pending (a trim, a hand-made
        XDEL) has nothing to write, so it is acknowledged here rather than read again forever."""
        gone = [entry_id for entry_id, fields in pending if not fields]
        if gone:
            log.warning("outbox %r: %d pending entries were deleted before they were written", stream, len(gone))
            await self.redis.xack(stream, outbox.GROUP, *gone)
        return _with_fields(pending)

    async def write(self, entries: Sequence[Entry]) -> None:
        """Commit the entries to SQL; safe to repeat (every row's key comes from the entry)."""
        reserved: list[dict[str, object]] = []
        proxied: list[dict[str, object]] = []  # grabbed by a grid worker for a resident
        changed: list[dict[str, object]] = []
        draws: list[dict[str, object]] = []
        points: list[dict[str, object]] = []
        for entry_id, fields in entries:
            try:
                entry = outbox.decode_entry(fields)
            except outbox.UnknownEntry as exc:
                log.error("unreadable outbox entry %r (%s); acknowledged without writing", entry_id, exc)
                continue
            match entry:
                case outbox.Reserved() if entry.proxy:
                    proxied.append(order_row(entry))
                case outbox.Reserved():
                    reserved.append(order_row(entry))
                case outbox.Released() | outbox.Confirmed():
                    changed.append(order_row(entry))
                case outbox.BagDrawn():
                    audit, winners_points = draw_rows(entry)
                    draws.append(audit)
                    points += winners_points
                case outbox.PointsAwarded():
                    points.append(points_row(entry))
        async with self.engine.begin() as conn:
            for table, key, rows in ((orders, "id", reserved), (lucky_bag_draws, "bag_id", draws),
                                     (points_ledger, "id", points)):
                if rows:
                    await conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=[key]), rows)
            if proxied:
                await self._write_proxied(conn, proxied)
            # A status change carries the whole order: insert it if its reservation has not
            # arrived yet (pending in a dead consumer), else move the status on. A hold is
            # confirmed or released, never both, so the order of the two cannot matter. An order
            # already at its pickup point (ready), collected or expired has moved past the live
            # room: a late entry must never send it back to reserved or confirmed.
            for row in changed:
                stmt = self._insert(orders).values(**row)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["id"], set_={"status": row["status"], "updated_at": row["updated_at"]},
                    where=orders.c.status.not_in(("ready", "collected", "expired")),
                )
                await conn.execute(stmt)

    async def _write_proxied(self, conn: AsyncConnection, rows: list[dict[str, object]]) -> None:
        """Insert orders a grid worker placed, and audit each one this call recorded the proxy of, in the
        same transaction: an entry written again (a retry, a claimed entry) adds no second audit row.
        An order whose release arrived first (its reservation pending in a dead consumer) exists
        without its proxy: the reservation then fills ``proxy_by`` in, once, and is audited then."""
        communities: dict[object, str] = {}
        for row in rows:
            stmt = self._insert(orders).values(**row)
            added = (await conn.execute(stmt.on_conflict_do_update(
                index_elements=["id"], set_={"proxy_by": stmt.excluded.proxy_by}, where=orders.c.proxy_by.is_(None),
            ).returning(orders.c.id))).first()
            if added is None:
                continue
            sid = row["session_id"]
            if sid not in communities:
                communities[sid] = (await conn.execute(sa.select(live_sessions.c.community_id)
                                                       .where(live_sessions.c.id == sid))).scalar_one_or_none() or ""
            item = (await conn.execute(sa.select(session_items.c.title, session_items.c.unit).where(
                session_items.c.session_id == sid, session_items.c.id == row["item_id"]))).first()
            actor = Principal(user_id=str(row["proxy_by"]), role="grid", community_id=communities[sid] or None)
            await record_action(conn, resident_id=str(row["user_id"]), community_id=communities[sid],
                                actor=actor, action="proxy_grab",
                                detail=proxy_audit_detail(row, *(item or ("", ""))))

    async def ack(self, stream: bytes, entries: Sequence[Entry]) -> None:
        ids = [entry_id for entry_id, _ in entries]
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(stream, outbox.GROUP, *ids)
        pipe.xdel(stream, *ids)
        await pipe.execute()

    async def drain_once(self) -> int:
        """One pass over every outbox; returns how many entries were written. An outbox whose Redis
        node fails (a cluster primary failing over) does not hold up the others: they are drained, then
        the failure is raised."""
        done = 0
        failed: Exception | None = None
        for stream in await self.streams():
            try:
                done += await self._drain(stream)
            except (OSError, RedisError) as exc:
                failed = exc
        if failed is not None:
            raise failed
        return done

    async def _read_slot_map(self) -> None:
        """On a cluster, learn the slot map again: after a primary died, redis-py's client kept asking the
        dead node (seen at 8.0 and 8.2) until told where its slots went."""
        cluster: object = self.redis  # the factory hands a RedisCluster over as a Redis
        if isinstance(cluster, RedisCluster):
            with contextlib.suppress(OSError, RedisError):
                await cluster.nodes_manager.initialize()

    async def _drain(self, stream: bytes) -> int:
        done = 0
        # Bounded per stream, so one busy sale cannot starve the others.
        for _ in range(self.MAX_BATCHES_PER_PASS):
            entries = await self.read(stream)
            if not entries:
                break
            await self.write(entries)
            await self.ack(stream, entries)
            metrics.outbox_written(len(entries))
            done += len(entries)
        return done

    async def run(self, stop: asyncio.Event, idle_sleep: float = 0.05) -> None:
        """Drain until stop is set; transient failures are logged and retried."""
        while not stop.is_set():
            try:
                written = await self.drain_once()
                await self.backlog.measure_if_due(self.streams)
            except (OSError, RedisError, sa.exc.DBAPIError) as exc:
                # DBAPIError, not only OperationalError: asyncpg's "database is not accepting
                # connections" arrives as a plain DBAPIError, and the worker must outlive it.
                log.warning("outbox drain failed, retrying: %s", str(exc).splitlines()[0])
                metrics.store_error(exc, "worker")
                written = 0
                await asyncio.sleep(1)
                if isinstance(exc, OSError | RedisError):
                    await self._read_slot_map()
            except Exception:  # a bug must not stop every session's orders reaching SQL
                log.exception("outbox drain failed, retrying")
                written = 0
                await asyncio.sleep(1)
            if not written:
                try:
                    await asyncio.wait_for(stop.wait(), idle_sleep)
                except TimeoutError:
                    pass
