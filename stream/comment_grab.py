"""Comment-to-grab: 红薯+2, 2号+1, +1 (the pinned item), 红薯 +2斤, 红薯＋两份 grab like the grab button.

A comment grabs only when all of it reads "<item> + <quantity>" (the item may be left out, named,
or given by its number, N号 = item iN); anything else is plain chat and never a grab. The
quantity is read by ``infra.quantities``, the same rules the 接龙 parser uses (2, 两份, 2斤, x2).

A comment that looks like a grab but could only be read by guessing (two items match, no item is
pinned, an unknown number or name, a unit the item is not sold in, half a unit, more than one
person may take) gets a ``grab_unclear`` answer to its author and grabs nothing. The comment itself
is always shown to the room as written: neighbours copying "红薯+1" is how these rooms sell.

The grab goes through the same reserve as the grab frame (same per-user limit, same grab rate
limits). Its request id is derived from the comment: from the page's ``request_id`` when it sent
one, so a resent frame grabs once; otherwise from the item, quantity and the sale's deadline, so
the same "+1" written twice during one sale grabs once.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from infra import metrics
from infra.quantities import read_quantity
from stream.context import Live
from stream.errors import RateLimited
from stream.limits import FrameLimiter
from stream.protocol import GrabResult, GrabUnclear, ItemView, encoder
from stream.sessions import items, load_session
from stream.viewer import Viewer

# After NFKC: full-width ＋ is +, full-width digits are digits.
_GRAB = re.compile(r"(?P<target>[^+]{0,20}?)\s*\+\s*(?P<qty>[^+]{1,12})")
_NUMBERED = re.compile(r"(?P<n>\d{1,4})\s*号(?:链接)?")
_FILLER = re.compile(r"^(?:我要|我也要|要|来|拍)\s*")


@dataclass(frozen=True, slots=True)
class Reading:
    """What a comment was read as: a grab (item_id, qty), or an unclear answer (code, message)."""

    item_id: str | None = None
    qty: int = 0
    code: str | None = None
    message: str = ""
    item_ids: list[str] = field(default_factory=list)


def _unclear(code: str, message: str, *item_ids: str) -> Reading:
    return Reading(code=code, message=message, item_ids=list(item_ids))


def looks_like_grab(text: str) -> bool:
    """Whether a comment has the shape of a grab at all (cheap: no item is looked at)."""
    return "+" in unicodedata.normalize("NFKC", text)


def read_comment(text: str, items: list[ItemView], pinned: str | None) -> Reading | None:
    """Read a comment against the session's items: a Reading, or None for plain chat."""
    text = unicodedata.normalize("NFKC", text).strip()
    m = _GRAB.fullmatch(text)
    if not m:
        return None
    quantity = read_quantity(m["qty"].strip())
    if quantity is None:
        return None  # "好+赞": a plus between words is chat
    qty, unit = quantity
    target = _FILLER.sub("", m["target"].strip())
    item, unclear = _item_of(target, items, pinned)
    if unclear is not None or item is None:
        return unclear
    if unit and unit != item.unit and not (unit == "份" and item.unit in ("份", "个")):
        return _unclear("wrong_unit", f"{item.title} is sold by the {item.unit}", item.id)
    if qty != int(qty):
        return _unclear("not_whole", f"{item.title} is sold in whole {item.unit}", item.id)
    if item.per_user_limit and qty > item.per_user_limit:
        return _unclear("over_limit", f"at most {item.per_user_limit} {item.unit} of {item.title} per person",
                        item.id)
    return Reading(item_id=item.id, qty=int(qty))


def _item_of(target: str, items: list[ItemView], pinned: str | None) -> tuple[ItemView | None, Reading | None]:
    by_id = {i.id: i for i in items}
    if not target:
        if pinned and pinned in by_id:
            return by_id[pinned], None
        return None, _unclear("no_pinned_item", "no item is pinned: write its name or number, like 2号+1")
    if numbered := _NUMBERED.fullmatch(target):
        iid = f"i{int(numbered['n'])}"
        if iid in by_id:
            return by_id[iid], None
        return None, _unclear("unknown_item", f"there is no item {numbered['n']}号")
    if re.search(r"\d", target):
        return None, None  # "2023+1", "3楼+1": numbers that name no item are chat
    exact = [i for i in items if i.title == target]
    matches = exact or [i for i in items if target in i.title or i.title in target]
    if len(matches) == 1:
        return matches[0], None
    if not matches:
        return None, _unclear("unknown_item", f"no item here is called {target}")
    return None, _unclear("ambiguous_item", f"{target} could be {len(matches)} items: write its number, like "
                          f"{matches[0].id[1:]}号+1", *(i.id for i in matches))


def request_id(client_id: str | None, item: ItemView, qty: int) -> str:
    """The grab's request id, derived from the comment (see the module docstring)."""
    basis = f"page:{client_id}" if client_id else f"sale:{item.id}:{qty}:{item.ends_at}"
    return "comment-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


async def grab_by_comment(live: Live, viewer: Viewer, text: str, client_id: str | None,
                          limiter: FrameLimiter) -> None:
    """Grab for the author of a comment that reads as a grab; answer her either way (nothing for chat)."""
    if not looks_like_grab(text):
        return
    state = await load_session(live, viewer.sid)
    shown = await items(live, viewer.sid)
    reading = read_comment(text, shown, state.pinned_item_id)
    if reading is None:
        return
    if reading.code is not None or reading.item_id is None:
        viewer.offer(encoder.encode(GrabUnclear(code=reading.code or "unknown_item", message=reading.message,
                                                text=text, item_ids=reading.item_ids)))
        return
    # The grab counts against the same limits as the grab button.
    if not limiter.allow("grab"):
        raise RateLimited("slow down: too many requests")
    item = next(i for i in shown if i.id == reading.item_id)
    rid = request_id(client_id, item, reading.qty)
    r = await limiter.reserve(live.inventory, item.id, viewer.user_id, reading.qty, rid)
    viewer.offer(encoder.encode(GrabResult(request_id=rid, ok=r.ok, order_id=r.order_id, reason=r.reason,
                                           left=r.left, item_id=item.id, qty=reading.qty)))
    metrics.grab_answered("repeated" if r.repeated else r.reason)
    if r.ok and not r.repeated:
        await live.stock.changed(viewer.sid, item.id, r.left)
        live.purchases.note_soon(viewer.sid, item.id, viewer.user_id, reading.qty)
