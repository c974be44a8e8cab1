"""Telling residents what became of their wishes and holds.

Each piece of news is a notice, stored once per cause (community's notices, so a resident who
was offline reads it later), and, for a resident watching the live session, a personal frame:
``hold_placed`` / ``hold_released`` for the hold itself and ``notice`` for the notice. Kinds
and params are listed in docs/api.md; pages render them in their own language.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from community.api import NewNotice, notify
from infra.tables import notices, orders, products, wish_lines, wish_outcomes, wish_windows
from stream.api import HoldPlaced, HoldReleased, Live, OrderView, RoomNotices, send_personal

log = logging.getLogger(__name__)
DEFAULT_WARNING_MIN = 10  # minutes before hold_release_at that a resident is reminded to confirm


@dataclass(frozen=True, slots=True)
class PlacedHold:
    user_id: str
    order_id: str
    item_id: str
    qty: int
    price_cents: int


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def to_json(params: dict[str, Any]) -> str:
    return json.dumps(params, ensure_ascii=False, sort_keys=True)


def wish_notices(window: sa.Row[Any], lines: Sequence[sa.Row[Any]], outcomes: Sequence[dict[str, Any]],
                 catalog: dict[str, sa.Row[Any]]) -> list[NewNotice]:
    """One notice per decided wish line: ``wish_<outcome>``, with the outcome's params."""
    by_line = {line.id: line for line in lines}
    told = []
    for outcome in outcomes:
        line = by_line[outcome["wish_line_id"]]
        product = catalog.get(line.product_id) if line.product_id else None
        params: dict[str, Any] = {
            "window_id": window.id, "wish_line_id": line.id, "qty": line.qty,
            "product": product.name if product is not None else line.free_text,
            **json.loads(str(outcome["params"]))}
        if outcome["order_id"]:
            params |= {"order_id": outcome["order_id"], "session_id": window.session_id,
                       "release_at": ms(window.hold_release_at)}
        told.append(NewNotice(user_id=line.resident_id, community_id=window.community_id,
                              kind=f"wish_{outcome['status']}", params=params, link=f"/wishes/{window.id}",
                              dedupe_key=f"wish:{line.id}:outcome"))
    return told


async def tell_holds_placed(live: Live, window: sa.Row[Any], holds: Sequence[PlacedHold]) -> None:
    """A ``hold_placed`` frame to each wisher watching the session (the snapshot shows it to the rest)."""
    release_at = ms(window.hold_release_at)
    for h in holds:
        hold = OrderView(id=h.order_id, item_id=h.item_id, qty=h.qty, price_cents=h.price_cents, kind="hold",
                         status="reserved")
        await send_personal(live, window.session_id, h.user_id, HoldPlaced(hold=hold, release_at=release_at))


def _hold_rows() -> sa.Select[Any]:
    """Every hold of a window with what a notice says about it."""
    return (sa.select(wish_windows.c.id.label("window_id"), wish_windows.c.session_id, wish_windows.c.community_id,
                      wish_windows.c.hold_release_at, wish_outcomes.c.order_id, wish_outcomes.c.item_id,
                      wish_outcomes.c.held_qty, wish_lines.c.id.label("wish_line_id"), wish_lines.c.resident_id,
                      products.c.name, products.c.unit)
            .join(wish_outcomes, wish_outcomes.c.window_id == wish_windows.c.id)
            .join(wish_lines, wish_lines.c.id == wish_outcomes.c.wish_line_id)
            .outerjoin(products, products.c.id == wish_lines.c.product_id)
            .where(wish_outcomes.c.order_id.is_not(None)))


async def window_holds(conn: AsyncConnection, wid: str) -> list[sa.Row[Any]]:
    return list((await conn.execute(_hold_rows().where(wish_windows.c.id == wid)
                                    .order_by(wish_outcomes.c.wish_line_id))).all())


def hold_notice(kind: str, hold: sa.Row[Any], link: str, **more: Any) -> NewNotice:
    """``hold_release_soon`` or ``hold_released`` about one hold (one notice per hold and kind)."""
    params = {"window_id": hold.window_id, "wish_line_id": hold.wish_line_id, "session_id": hold.session_id,
              "order_id": hold.order_id, "item_id": hold.item_id, "product": hold.name, "qty": hold.held_qty,
              "unit": hold.unit, "release_at": ms(hold.hold_release_at), **more}
    short = kind.removeprefix("hold_")
    return NewNotice(user_id=hold.resident_id, community_id=hold.community_id, kind=kind, params=params, link=link,
                     dedupe_key=f"hold:{hold.order_id}:{short}")


async def statuses(live: Live, sid: str, users: set[str]) -> dict[str, str]:
    """Order id -> its status in Redis now (reserved, confirmed, released), for these users' orders."""
    found: dict[str, str] = {}
    for user in sorted(users):
        for order in await live.inventory.orders_of(sid, user):
            found[str(order["id"])] = str(order["status"])
    return found


async def tell_holds_released(live: Live, released: Sequence[sa.Row[Any]]) -> None:
    for hold in released:
        await send_personal(live, hold.session_id, hold.resident_id, HoldReleased(
            order_id=hold.order_id, item_id=hold.item_id, qty=hold.held_qty, reason="not_confirmed"))


async def warn_release_soon(live: Live, now: datetime, minutes: int = DEFAULT_WARNING_MIN) -> int:
    """Remind each resident whose hold is still unconfirmed ``minutes`` before its release; once per
    hold however often this runs. Returns how many were reminded now."""
    key = sa.literal("hold:") + wish_outcomes.c.order_id + sa.literal(":release_soon")  # hold_notice's key
    query = (_hold_rows()
             # Holds that SQL already knows are confirmed or released, and holds already reminded,
             # drop out here, so a run every few seconds reads only those still to remind.
             .outerjoin(orders, orders.c.id == wish_outcomes.c.order_id)
             .outerjoin(notices, notices.c.dedupe_key == key)
             .where(wish_windows.c.status == "aggregated", wish_windows.c.hold_release_at > now,
                    wish_windows.c.hold_release_at <= now + timedelta(minutes=minutes), notices.c.id.is_(None),
                    sa.or_(orders.c.id.is_(None), orders.c.status == "reserved")))
    async with live.engine.connect() as conn:
        candidates = (await conn.execute(query.order_by(wish_outcomes.c.wish_line_id))).all()
    by_session: dict[str, list[sa.Row[Any]]] = defaultdict(list)
    for hold in candidates:
        by_session[hold.session_id].append(hold)
    reminded = 0
    for sid, holds in by_session.items():
        # SQL lags the live room by the outbox worker: Redis says whether a hold is still unconfirmed.
        now_status = await statuses(live, sid, {h.resident_id for h in holds})
        due = [hold_notice("hold_release_soon", h, f"/live/{sid}") for h in holds
               if now_status.get(h.order_id) == "reserved"]
        reminded += len(await notify(live.engine, due, [RoomNotices(live, sid)]))
    if reminded:
        log.info("reminded %d residents to confirm their holds", reminded)
    return reminded
