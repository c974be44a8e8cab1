"""Drain every session's outbox stream into the SQL ``orders`` table.

Order of a pass, per stream: entries this consumer already holds (a restart under the
same name), entries idle too long in a dead consumer's hands (XAUTOCLAIM), then new
entries. Each batch is committed to SQL first and acknowledged (XACK, then XDEL to free
memory) after; a crash between the two leaves the entries pending, and since the order id
is the primary key, writing them again changes nothing.

With ``wait_replicas`` N (``LINLI_WAIT_REPLICAS``) a batch is written only once N replicas of its
node have its entries (``WAIT``), or every replica the node has when it has fewer: a grab whose
entry reached SQL but not the replica promoted after a crash would be asked again there and take
a second unit. A batch the replicas do not confirm in time stays pending and is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError
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

# How long a batch waits for its replicas. Short, as the outboxes are drained one after another: a
# shard whose replica stopped answering holds up the others this long per pass.
WAIT_TIMEOUT_MS = 1_000
# How often a node seen with fewer replicas than asked is counted again (a replica coming back).
RECOUNT_S = 1.0


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


def _replicas_in_slots(reply: object, slot: int) -> int:
    """The replicas CLUSTER SLOTS lists for a slot's range: [start, end, primary, *replicas] each. The
    server leaves out replicas flagged failed and those that never synced: none of them can be promoted."""
    for start, end, _primary, *replicas in reply if isinstance(reply, list) else []:
        if int(start) <= slot <= int(end):
            return len(replicas)
    return 0


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
                 batch: int = 500, claim_idle_ms: int = 30_000, wait_replicas: int = 0) -> None:
        self.redis = redis
        cluster: object = redis  # the factory hands a RedisCluster over as a Redis
        self._cluster = cluster if isinstance(cluster, RedisCluster) else None
        self.engine = engine
        self.consumer = consumer or default_consumer_name()
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.wait_replicas = wait_replicas
        self._replica_counts: dict[str, tuple[int, float]] = {}  # node -> (its replicas, when counted)
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
            own = await self._xreadgroup(stream, "0")
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
        fresh = await self._xreadgroup(stream, ">")
        return _with_fields(_entries_of(fresh))

    async def _xreadgroup(self, stream: bytes, start: str) -> object:
        if self._cluster is None:
            return await self.redis.xreadgroup(outbox.GROUP, self.consumer, {stream: start}, count=self.batch)
        # Sent to the stream's node ourselves: redis-py's cluster client asks one node, picked when it
        # started, where XREADGROUP's keys are (COMMAND GETKEYS), and once that node was killed it kept
        # asking it, slot map read again or not (8.0, 8.2): no outbox was read until it came back.
        return await self._node(stream).execute_command(
            "XREADGROUP", "GROUP", outbox.GROUP, self.consumer, "COUNT", self.batch, "STREAMS", stream, start)

    def _node(self, stream: bytes) -> ClusterNode:
        """The primary serving a stream by the slot map known now."""
        assert self._cluster is not None
        try:
            node = self._cluster.get_node_from_key(stream.decode())
        except RedisClusterException as exc:  # no primary for the slot in the map (a failover under way)
            raise RedisConnectionError(f"no primary serves {stream!r} by the slot map") from exc
        if node is None:
            raise RedisConnectionError(f"no primary serves {stream!r} by the slot map")
        return node

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

    async def replicated(self, stream: bytes, entries: Sequence[Entry]) -> bool:
        """Whether the entries may be written: the replicas asked for (or all the node has) have them."""
        if not self.wait_replicas:
            return True
        node = self._node(stream).name if self._cluster is not None else ""
        want = min(self.wait_replicas, await self._replicas_of(stream, node))
        if not want:
            # No replica that could be promoted: nothing but the node itself can lose these entries (its
            # AOF's promise, as on a single server). Waiting would stall the shard's orders until an
            # operator gave it a replica, while its grabs (refused unacknowledged) keep taking stock.
            return True
        acked = await self._wait(stream, [entry_id for entry_id, _ in entries], want)
        if acked >= want:
            return True
        self._replica_counts.pop(node, None)  # count again next time: a replica may be gone for good
        log.warning("outbox %r: %d of %d replicas confirmed %d entries within %d ms; left pending",
                    stream, acked, want, len(entries), WAIT_TIMEOUT_MS)
        return False

    async def _replicas_of(self, stream: bytes, node: str) -> int:
        """The replicas the stream's node has, counted again once a second while fewer than asked."""
        seen = self._replica_counts.get(node)
        now = time.monotonic()
        if seen is None or (seen[0] < self.wait_replicas and now - seen[1] >= RECOUNT_S):
            seen = self._replica_counts[node] = (await self._count_replicas(stream), now)
        return seen[0]

    async def _count_replicas(self, stream: bytes) -> int:
        if self._cluster is None:
            return int((await self.redis.info("replication")).get("connected_slaves", 0))
        # Asked of the node itself, in its own view of the cluster: redis-py's slot map leaves replicas
        # out (8.2) and may be stale. A replica out of touch but not yet flagged failed is counted, as
        # it could still be promoted.
        node = self._node(stream)
        reply = (await self._on_node(node, [("CLUSTER", "SLOTS")]))[0]
        return _replicas_in_slots(reply, self._cluster.keyslot(stream))

    async def _wait(self, stream: bytes, ids: list[bytes], replicas: int) -> int:
        """How many replicas have the entries: ``WAIT`` covers what its own connection wrote, so the
        entries are claimed again to this consumer first (XCLAIM JUSTID: replicated, and nothing
        changes but their idle time), on the same connection of the stream's node. A read alone is not
        enough: reading own pending entries again is not replicated, and the cluster client sends
        keyless WAIT to any node."""
        claim = ("XCLAIM", stream, outbox.GROUP, self.consumer, 0, *ids, "JUSTID")
        wait = ("WAIT", replicas, WAIT_TIMEOUT_MS)
        if self._cluster is None:
            pipe = self.redis.pipeline(transaction=False)  # one connection
            message_ids: list[Any] = list(ids)
            pipe.xclaim(stream, outbox.GROUP, self.consumer, 0, message_ids, justid=True)
            pipe.execute_command(*wait)
            return int((await pipe.execute())[1])
        return int((await self._on_node(self._node(stream), [claim, wait]))[1])

    @staticmethod
    async def _on_node(node: ClusterNode, commands: list[tuple[object, ...]]) -> list[Any]:
        """Commands on one connection of one cluster node, their raw replies in order."""
        conn = node.acquire_connection()
        try:
            await conn.send_packed_command(conn.pack_commands(commands))  # type: ignore[arg-type]
            return [await conn.read_response() for _ in commands]
        except BaseException:
            await conn.disconnect()  # the replies left unread would answer the next caller
            raise
        finally:
            node.release(conn)

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
        """On a cluster, learn the slot map again: the outboxes are read on the node the map names."""
        if self._cluster is not None:
            with contextlib.suppress(OSError, RedisError):
                await self._cluster.nodes_manager.initialize()

    async def _drain(self, stream: bytes) -> int:
        done = 0
        # Bounded per stream, so one busy sale cannot starve the others.
        for _ in range(self.MAX_BATCHES_PER_PASS):
            entries = await self.read(stream)
            if not entries or not await self.replicated(stream, entries):
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
