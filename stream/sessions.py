"""Live sessions: the draft -> live -> ended state machine, items, pins and flash sales.

Redis holds the session's live state under its hash tag; SQL records sessions and items.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Self

import msgspec
from msgspec import Meta

from community.api import get_community
from infra.auth import Principal
from infra.errors import BadRequest, Forbidden
from infra.ids import ID_RE
from infra.resources import as_str
from infra.tables import live_sessions, session_items
from infra.types import Cents, HttpUrl, Id, Title, Unit
from inventory import MAX_QTY
from stream import keys
from stream.audience import may_watch
from stream.context import Live
from stream.errors import SessionNotFound, WrongState
from stream.protocol import FlashEnded, FlashStarted, ItemAdded, ItemPinned, ItemView, SessionEnded, SessionLive
from stream.video import new_video_keys, playback_path

MAX_FLASH_S = 6 * 3600
Units = Annotated[int, Meta(ge=0, le=MAX_QTY, description="whole units in the item's sale unit")]


@dataclass(frozen=True, slots=True)
class SessionState:
    id: str
    community_id: str
    title: str
    status: str
    pinned_item_id: str | None
    stream_url: str | None


class NewItem(msgspec.Struct, kw_only=True):
    title: Title
    price_cents: Cents
    stock: Units
    per_user_limit: Annotated[Units, Meta(description="0 means no limit")] = 0
    unit: Unit = "份"
    image_url: HttpUrl | None = None
    product_id: Id | None = None


class SessionView(msgspec.Struct, kw_only=True):
    id: str
    title: str
    community_id: str
    status: str  # draft, live or ended
    pinned_item_id: str | None
    stream_url: str | None

    @classmethod
    def of(cls, state: SessionState, **more: Any) -> Self:
        """The view of a session's state, with a subclass's ``more`` fields."""
        return cls(id=state.id, title=state.title, community_id=state.community_id, status=state.status,
                   pinned_item_id=state.pinned_item_id, stream_url=state.stream_url, **more)


class SessionDetail(SessionView, kw_only=True):
    items: list[ItemView]
    viewers: int


class SessionStatus(msgspec.Struct, kw_only=True):
    id: str
    status: str


class Pinned(msgspec.Struct, kw_only=True):
    pinned_item_id: str


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(5)


async def load_session(live: Live, sid: str) -> SessionState:
    """The session's live state; SessionNotFound when there is none."""
    if not isinstance(sid, str) or not ID_RE.match(sid):
        raise SessionNotFound("no such session")
    raw = await live.redis.hgetall(keys.session(sid))
    if not raw:
        raise SessionNotFound(f"no session {sid}")
    f = {as_str(k): as_str(v) for k, v in raw.items()}
    return SessionState(id=sid, community_id=f["community_id"], title=f["title"], status=f["status"],
                        pinned_item_id=f.get("pinned") or None, stream_url=f.get("stream_url") or None)


def check_member(principal: Principal, state: SessionState) -> None:
    """Only people of the session's community (and operators) may join or act in it; never a supplier,
    who sees aggregates only (stream.audience)."""
    if not principal.can_act_in(state.community_id):
        raise Forbidden("this session belongs to another community")
    if not may_watch(principal.role):
        raise Forbidden(f"a {principal.role} does not take part in live sessions")


async def host_session(live: Live, principal: Principal, sid: str, *allowed: str) -> SessionState:
    """The session, checked to be the host's community and in one of ``allowed`` states."""
    state = await load_session(live, sid)
    check_member(principal, state)
    if allowed and state.status not in allowed:
        raise WrongState(f"session is {state.status}; this needs it to be {' or '.join(allowed)}")
    return state


async def create_session(live: Live, principal: Principal, title: str, community_id: str,
                         stream_url: str | None = None) -> SessionState:
    title = title.strip()
    if not title:
        raise BadRequest("title must not be blank")
    if not principal.can_act_in(community_id):
        raise Forbidden("hosts create sessions in their own community only")
    await get_community(live.engine, community_id)
    sid = new_id("s")
    async with live.engine.begin() as conn:
        await conn.execute(live_sessions.insert().values(
            id=sid, community_id=community_id, title=title, status="draft",
            created_by=principal.user_id, created_at=datetime.now(UTC)))
    await live.inventory.register_outbox(sid)
    # Without a platform URL the session plays what its host pushes to linli's own ingest (stream.video).
    ingest_key, media_key = new_video_keys(sid)
    stream_url = stream_url or playback_path(sid, media_key)
    await live.redis.hset(keys.session(sid), mapping={
        "community_id": community_id, "title": title, "status": "draft", "stream_url": stream_url,
        "ingest_key": ingest_key, "media_key": media_key})
    return SessionState(sid, community_id, title, "draft", None, stream_url)


async def add_item(live: Live, sid: str, item: NewItem) -> ItemView:
    """Add an item with its stock; viewers of a live session see it appear."""
    title = item.title.strip()
    if not title or not item.unit.strip():
        raise BadRequest("title and unit must not be blank")
    iid = f"i{await live.redis.incr(keys.item_seq(sid))}"
    async with live.engine.begin() as conn:
        await conn.execute(session_items.insert().values(
            session_id=sid, id=iid, title=title, price_cents=item.price_cents, unit=item.unit,
            stock=item.stock, per_user_limit=item.per_user_limit, product_id=item.product_id,
            image_url=item.image_url))
    await live.redis.hset(keys.catalog(sid), iid, json.dumps(
        {"title": title, "unit": item.unit, "image_url": item.image_url, "product_id": item.product_id}))
    left = await live.inventory.load_stock(sid, iid, add=item.stock, per_user_limit=item.per_user_limit,
                                           price_cents=item.price_cents)
    view = ItemView(id=iid, title=title, price_cents=item.price_cents, unit=item.unit, left=left,
                    per_user_limit=item.per_user_limit, on_sale=False, image_url=item.image_url)
    await live.publisher.publish(sid, ItemAdded(item=view))
    return view


async def items(live: Live, sid: str) -> list[ItemView]:
    """Every item with its stock as Redis holds it now."""
    catalog = {as_str(k): json.loads(v) for k, v in (await live.redis.hgetall(keys.catalog(sid))).items()}
    stock = await live.inventory.snapshot(sid)
    return [
        ItemView(id=iid, title=meta["title"], price_cents=s.price_cents, unit=meta["unit"], left=s.left,
                 per_user_limit=s.per_user_limit, on_sale=s.on_sale and (not s.ends_at_ms or s.ends_at_ms > now_ms()),
                 ends_at=s.ends_at_ms, image_url=meta.get("image_url"), sold=s.sold)
        for iid, meta in sorted(catalog.items(), key=lambda kv: int(kv[0][1:]))
        if (s := stock.get(iid))
    ]


async def _set_status(live: Live, sid: str, status: str) -> None:
    await live.redis.hset(keys.session(sid), "status", status)
    async with live.engine.begin() as conn:
        await conn.execute(live_sessions.update().where(live_sessions.c.id == sid).values(status=status))


async def go_live(live: Live, state: SessionState) -> None:
    await _set_status(live, state.id, "live")
    await live.publisher.publish(state.id, SessionLive(session_id=state.id))


async def pin(live: Live, state: SessionState, iid: str) -> None:
    if not await live.redis.hexists(keys.catalog(state.id), iid):
        raise BadRequest(f"no item {iid} in this session", code="unknown_item")
    await live.redis.hset(keys.session(state.id), "pinned", iid)
    await live.publisher.publish(state.id, ItemPinned(item_id=iid))


async def start_flash(live: Live, state: SessionState, iid: str, duration_s: int,
                      price_cents: int | None, per_user_limit: int | None) -> FlashStarted:
    """Open an item's sale until a deadline; any web process's sweeper closes it then."""
    if not await live.redis.hexists(keys.catalog(state.id), iid):
        raise BadRequest(f"no item {iid} in this session", code="unknown_item")
    ends_at = now_ms() + duration_s * 1000
    await live.inventory.open_sale(state.id, iid, ends_at_ms=ends_at, price_cents=price_cents,
                                   per_user_limit=per_user_limit)
    await live.redis.zadd(keys.DEADLINES, {f"flash|{state.id}|{iid}|{ends_at}": ends_at})
    stock = (await live.inventory.snapshot(state.id))[iid]
    event = FlashStarted(item_id=iid, ends_at=ends_at, price_cents=stock.price_cents,
                         per_user_limit=stock.per_user_limit, left=stock.left)
    await live.publisher.publish(state.id, event)
    return event


async def close_flash(live: Live, sid: str, iid: str, ends_at: int | None) -> bool:
    """Close a flash sale (idempotent: only the first closer publishes flash_ended)."""
    if not await live.inventory.close_sale(sid, iid, ends_at_ms=ends_at):
        return False
    left = (await live.inventory.snapshot(sid))[iid].left
    await live.publisher.publish(sid, FlashEnded(item_id=iid, left=left))
    return True


async def end_session(live: Live, state: SessionState) -> None:
    """End the session: every open sale closes, then everyone hears session_ended."""
    await _set_status(live, state.id, "ended")
    for iid, stock in (await live.inventory.snapshot(state.id)).items():
        if stock.on_sale:
            await close_flash(live, state.id, iid, None)
    await live.publisher.publish(state.id, SessionEnded(session_id=state.id))
