"""The public face of inventory: load stock, open and close sales, reserve, release, snapshot.

This is the only module that calls inventory's Lua scripts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from infra.ids import ID_RE, ID_RULE
from infra.resources import as_str
from inventory import keys
from inventory.batcher import ScriptBatcher, check_wait_aof
from inventory.errors import InvalidInput, OverRateLimit, UnknownItem, UnknownOrder
from inventory.scripts import Scripts

MAX_REQUEST_ID_BYTES = 64
MAX_QTY = 10_000  # one reservation
MAX_STOCK_ADD = 1_000_000  # one load or restock
REQUEST_MEMORY_S = 2 * 24 * 3600
KINDS = ("grab", "hold", "prize")
WITHDRAWALS = "~withdraw"  # the request-id namespace of stock withdrawals (no user id starts with ~)


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer to one reserve call."""

    ok: bool
    order_id: str | None
    reason: str | None
    left: int  # units left after this call (or when it was first answered)
    repeated: bool  # the request id was seen before; this is the first answer again


@dataclass(frozen=True, slots=True)
class RateCell:
    """One "n per T" rate limit of a grab's caller, checked and charged by the reserve call itself
    (a GCRA cell: n grabs at once, then one per T/n); its key must carry the session's hash tag."""

    key: str
    interval_ms: int  # T/n
    window_ms: int  # T


@dataclass(frozen=True, slots=True)
class ItemStock:
    """One item's stock as Redis holds it."""

    item_id: str
    left: int
    sold: int
    per_user_limit: int
    price_cents: int
    on_sale: bool
    ends_at_ms: int


def check_id(what: str, value: str) -> str:
    """Ids become parts of Redis keys: keep them short and free of hash-tag braces."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise InvalidInput(f"{what} must be {ID_RULE}")
    return value


def check_request_id(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("request_id is required")
    if len(value.encode()) > MAX_REQUEST_ID_BYTES:
        raise InvalidInput(f"request_id must be at most {MAX_REQUEST_ID_BYTES} bytes")
    if "}" in value or "{" in value:
        raise InvalidInput("request_id must not contain braces")
    return value


def check_qty(value: object, *, allow_zero: bool = False, high: int = MAX_QTY) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"quantity must be a whole number from {low} to {high}")
    return value


class Inventory:
    """Stock operations for every live session, over one Redis connection pool."""

    def __init__(self, redis: Redis, *, wait_aof: bool = False, wait_replicas: int = 0) -> None:
        self.redis = redis
        self.scripts = Scripts()
        self.wait_aof = wait_aof
        # With wait_aof a reserve answers only once the AOF holding it is on disk, with wait_replicas
        # once that many replicas have it (see batcher.py).
        self._reserve = ScriptBatcher(redis, self.scripts.reserve_stock, wait_aof=wait_aof,
                                      wait_replicas=wait_replicas)

    async def durability(self) -> str:
        """How acknowledged reserves are kept: with wait_aof, the server and its WAITAOF, checked
        now (DurabilityUnavailable explains a server that lacks it)."""
        if not self.wait_aof:
            return "acknowledged once Redis ran the call (its AOF is synced by its appendfsync policy)"
        return await check_wait_aof(self.redis)

    async def prepare(self) -> None:
        """Load the scripts (optional: calls recover from NOSCRIPT anyway)."""
        await self.scripts.load(self.redis)

    async def load_stock(self, sid: str, iid: str, *, add: int, per_user_limit: int = 0,
                         price_cents: int = 0) -> int:
        """Create an item's stock or add units to it; returns units left."""
        check_id("session id", sid)
        check_id("item id", iid)
        check_qty(add, allow_zero=True, high=MAX_STOCK_ADD)
        if isinstance(per_user_limit, bool) or not isinstance(per_user_limit, int) or per_user_limit < 0:
            raise InvalidInput("per_user_limit must be a whole number >= 0 (0 means no limit)")
        if isinstance(price_cents, bool) or not isinstance(price_cents, int) or price_cents < 0:
            raise InvalidInput("price_cents must be a whole number >= 0")
        left, _created = await self.scripts.load_stock(
            self.redis, [keys.items(sid), keys.item(sid, iid)], [iid, add, per_user_limit, price_cents]
        )
        await self.register_outbox(sid)
        return int(left)

    async def register_outbox(self, sid: str) -> None:
        """Make the outbox worker drain this session's outbox."""
        await self.redis.sadd(keys.OUTBOX_REGISTRY, keys.outbox(check_id("session id", sid)))

    async def open_sale(self, sid: str, iid: str, *, ends_at_ms: int = 0,
                        price_cents: int | None = None, per_user_limit: int | None = None) -> bool:
        """Open an item's sale until ends_at_ms (0: until closed); True if this call opened it."""
        changed, _ = await self.scripts.set_sale(
            self.redis, [keys.item(check_id("session id", sid), check_id("item id", iid))],
            [1, int(ends_at_ms), "" if price_cents is None else int(price_cents),
             "" if per_user_limit is None else int(per_user_limit)],
        )
        if changed == -1:
            raise UnknownItem(f"no item {iid} in session {sid}")
        return int(changed) == 1

    async def close_sale(self, sid: str, iid: str, *, ends_at_ms: int | None = None) -> bool:
        """Close an item's sale; with ends_at_ms, only the sale with that deadline. True if closed now."""
        changed, _ = await self.scripts.set_sale(
            self.redis, [keys.item(check_id("session id", sid), check_id("item id", iid))],
            [0, "" if ends_at_ms is None else int(ends_at_ms), "", ""],
        )
        if changed == -1:
            raise UnknownItem(f"no item {iid} in session {sid}")
        return int(changed) == 1

    async def reserve(self, sid: str, iid: str, user_id: str, qty: int, request_id: str,
                      *, kind: str = "grab", proxy: str = "", limits: Sequence[RateCell] = ()) -> Reservation:
        """Take qty units for a user in one atomic call; the order goes to the outbox in that call.
        ``proxy`` names the grid worker who grabs for the user: the order is the user's, her limit
        applies, and the entry records who placed it. ``limits`` are the caller's grab rate limits,
        charged in the same call before anything else (a repeated request id is not charged again);
        OverRateLimit names the one that refuses."""
        check_id("session id", sid)
        check_id("item id", iid)
        check_id("user id", user_id)
        check_qty(qty)
        check_request_id(request_id)
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
        # A proxy's request ids live apart from the user's own ("~" starts no user id), so neither
        # can replay the other's answer.
        requester = f"{user_id}~{check_id('proxy id', proxy)}" if proxy else user_id
        # The rate limits ride in the reserve call itself: one round trip per batch of grabs.
        cells = limits if kind == "grab" else ()
        ok, value, left, repeated, *refusal = await self._reserve.call(
            [keys.item(sid, iid), keys.bought(sid, iid), keys.request(sid, requester, request_id),
             keys.orders(sid), keys.order_seq(sid), keys.outbox(sid), keys.user_orders(sid, user_id),
             *(c.key for c in cells)],
            [sid, iid, user_id, qty, request_id, kind, REQUEST_MEMORY_S, proxy,
             *(v for c in cells for v in (c.interval_ms, c.window_ms))],
        )
        value = value.decode() if isinstance(value, bytes) else str(value)
        if refusal:
            raise OverRateLimit(int(refusal[0]) - 1, int(refusal[1]))
        if not ok and value == "unknown_item":
            raise UnknownItem(f"no item {iid} in session {sid}")
        if not ok and value == "bad_qty":
            raise InvalidInput("quantity must be a positive whole number")
        return Reservation(
            ok=bool(ok), order_id=value if ok else None, reason=None if ok else value,
            left=int(left), repeated=bool(repeated),
        )

    async def release(self, sid: str, order_id: str, *, why: str = "cancel") -> int | None:
        """Return an order's units to stock exactly once; units left, or None when the order was
        already released or is a confirmed hold (which stays)."""
        check_id("session id", sid)
        raw = await self.redis.hget(keys.orders(sid), order_id)
        if raw is None:
            raise UnknownOrder(f"no order {order_id} in session {sid}")
        iid = json.loads(raw)["item"]
        result = await self.scripts.release_order(
            self.redis,
            [keys.orders(sid), keys.item(sid, iid), keys.bought(sid, iid), keys.outbox(sid)],
            [sid, order_id, iid, why],
        )
        if result[0] == 1:
            return int(result[1])
        reason = result[1].decode() if isinstance(result[1], bytes) else result[1]
        if reason in ("already_released", "confirmed"):
            return None
        raise UnknownOrder(f"order {order_id}: {reason}")

    async def withdraw_stock(self, sid: str, iid: str, qty: int, request_id: str) -> tuple[int, int]:
        """Take up to qty unreserved units out of an item's stock for good, once per request id;
        (units taken, units left). Reserved units are not touched: release their orders first."""
        check_id("session id", sid)
        check_id("item id", iid)
        check_qty(qty, high=MAX_STOCK_ADD)
        check_request_id(request_id)
        taken, left, _ = await self.scripts.withdraw_stock(
            self.redis, [keys.item(sid, iid), keys.request(sid, WITHDRAWALS, request_id)],
            [qty, REQUEST_MEMORY_S])
        if int(taken) == -1:
            raise UnknownItem(f"no item {iid} in session {sid}")
        return int(taken), int(left)

    async def confirm_hold(self, sid: str, order_id: str, user_id: str) -> str:
        """Keep a hold placed for a wish; 'confirmed', or the reason it cannot be."""
        ok, reason = await self.scripts.confirm_hold(
            self.redis, [keys.orders(check_id("session id", sid)), keys.outbox(sid)], [sid, order_id, user_id])
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        if not ok and reason == "unknown_order":
            raise UnknownOrder(f"no hold {order_id} of yours in this session")
        return reason

    async def snapshot(self, sid: str) -> dict[str, ItemStock]:
        """Every item's stock in a session, read in one MULTI so the figures agree."""
        check_id("session id", sid)
        ids = sorted(as_str(m) for m in await self.redis.smembers(keys.items(sid)))
        if not ids:
            return {}
        pipe = self.redis.pipeline(transaction=True)
        for iid in ids:
            pipe.hmget(keys.item(sid, iid), "left", "sold", "limit", "price", "on_sale", "ends_at")
        rows = await pipe.execute()
        return {
            iid: ItemStock(
                item_id=iid, left=int(row[0] or 0), sold=int(row[1] or 0), per_user_limit=int(row[2] or 0),
                price_cents=int(row[3] or 0), on_sale=row[4] == b"1", ends_at_ms=int(row[5] or 0),
            )
            for iid, row in zip(ids, rows, strict=True)
        }

    async def orders_of(self, sid: str, user_id: str) -> list[dict[str, object]]:
        """A user's orders in a session, oldest first, with their current status."""
        ids = await self.redis.lrange(keys.user_orders(sid, user_id), 0, -1)
        if not ids:
            return []
        raw = await self.redis.hmget(keys.orders(sid), ids)
        out = []
        for oid, data in zip(ids, raw, strict=True):
            if data is None:
                continue
            order = json.loads(data)
            out.append({"id": as_str(oid), "item_id": order["item"], "qty": order["qty"],
                        "price_cents": order["price"], "kind": order["kind"], "status": order["status"]})
        return out

    async def held_by(self, sid: str, iid: str, user_id: str) -> int:
        """Units of an item a user holds now (reserved and not released)."""
        return int(await self.redis.hget(keys.bought(sid, iid), user_id) or 0)
