"""The websocket protocol: every frame is a msgspec Struct tagged by ``type``.

Client frames are decoded with one Decoder; server events are encoded once and the same
bytes go to every viewer. Every server event carries the session's ``seq`` (added when it
is published, so the order of seq is the order of publication across all web processes)
and ``ts``, the server's clock in epoch milliseconds.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from infra.types import Id

KW = {"tag_field": "type", "kw_only": True, "omit_defaults": True}


# ---- client -> server ----------------------------------------------------------------
# Ids that name a Redis key follow the id rule, so "<bag>:entrants" cannot reach another key; the
# grab's qty and request_id are checked by inventory, which answers with the request id echoed.

class Grab(msgspec.Struct, tag="grab", **KW):
    item_id: Id
    request_id: str
    qty: int = 1
    # A grid worker grabbing for a resident of her grid (代下单): the order is the resident's.
    for_user: Id | None = None


class EnterLuckyBag(msgspec.Struct, tag="enter_lucky_bag", **KW):
    bag_id: Id
    passphrase: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class Comment(msgspec.Struct, tag="comment", **KW):
    text: str  # 1-200 characters once trimmed, checked by the room (code bad_comment)
    # A comment that grabs (红薯+2) grabs once per request_id; a page resending the same comment
    # sends the same id. Without one, the same item and quantity grab once per sale.
    request_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class GrabRedPacket(msgspec.Struct, tag="grab_red_packet", **KW):
    packet_id: Id


class ConfirmHold(msgspec.Struct, tag="confirm_hold", **KW):
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=96)]  # <session id>-<n>


class Ping(msgspec.Struct, tag="ping", **KW):
    pass


ClientFrame = Grab | EnterLuckyBag | Comment | GrabRedPacket | ConfirmHold | Ping
client_decoder = msgspec.json.Decoder(ClientFrame)


# ---- server -> client ----------------------------------------------------------------

class ItemView(msgspec.Struct, kw_only=True):
    id: str
    title: str
    price_cents: int
    unit: str
    left: int
    per_user_limit: int
    on_sale: bool
    ends_at: int = 0  # epoch ms of the flash deadline, 0 when none
    image_url: str | None = None
    sold: int = 0


class LuckyBagView(msgspec.Struct, kw_only=True):
    id: str
    title: str
    winners: int
    draw_at: int
    needs_passphrase: bool
    min_watch_s: int
    entered: bool = False
    seed_hash: str = ""  # SHA-256 of the draw's seed, revealed with the result (stream.fairness)
    prefer_new_days: int = 0  # residents who won in the last N days are drawn after the others
    monthly_cap: int = 0  # residents with this many wins in the last 30 days cannot win


class OrderView(msgspec.Struct, kw_only=True):
    id: str
    item_id: str
    qty: int
    price_cents: int
    kind: str
    status: str


class Snapshot(msgspec.Struct, tag="snapshot", **KW):
    seq: int
    ts: int
    session_id: str
    title: str
    status: str
    pinned_item_id: str | None
    items: list[ItemView]
    lucky_bags: list[LuckyBagView]
    viewers: int
    me: str
    holds: list[OrderView]  # holds placed for the viewer's wishes: reserved or confirmed (released ones leave)
    orders: list[OrderView]  # grabs and prizes
    stream_url: str | None = None
    hold_release_at: int = 0  # epoch ms: unconfirmed holds go back to the live sale then; 0 when none
    flash_plans: list[FlashPlanView] = []  # scheduled flashes not started yet, soonest first


class Resumed(msgspec.Struct, tag="resumed", **KW):
    """The first frame of a join with ``?since=<seq>`` that the session's history covers: the
    ``missed`` events after ``after`` follow at once, in order, then live ones; no snapshot. The
    viewer's own holds and orders (personal, not in the history) come fresh with it."""

    after: int  # the seq the viewer sent; the next event is after + 1
    missed: int
    status: str
    viewers: int
    holds: list[OrderView]
    orders: list[OrderView]
    hold_release_at: int = 0


class GrabResult(msgspec.Struct, tag="grab_result", **KW):
    request_id: str
    ok: bool
    order_id: str | None = None
    reason: str | None = None
    left: int | None = None
    # Set when a comment grabbed (stream.comment_grab): what it was read as.
    item_id: str | None = None
    qty: int | None = None


class GrabUnclear(msgspec.Struct, tag="grab_unclear", **KW):
    """The answer to a comment that looks like a grab but cannot be read as one without guessing;
    only its author gets it, and nothing was grabbed."""

    code: str  # ambiguous_item, no_pinned_item, unknown_item, over_limit, wrong_unit, not_whole
    message: str
    text: str  # the comment as written
    item_ids: list[str] = []  # the items it could mean (ambiguous_item), or the one it names


class LuckyBagEntered(msgspec.Struct, tag="lucky_bag_entered", **KW):
    bag_id: str


class RedPacketResult(msgspec.Struct, tag="red_packet_result", **KW):
    packet_id: str
    ok: bool
    points: int
    reason: str | None = None


class HoldConfirmed(msgspec.Struct, tag="hold_confirmed", **KW):
    order_id: str


# Personal frames: sent to one user's viewers only (a session's personal channel), without seq.

class HoldPlaced(msgspec.Struct, tag="hold_placed", **KW):
    hold: OrderView
    release_at: int = 0  # epoch ms: unconfirmed, the hold goes back to the live sale then


class HoldReleased(msgspec.Struct, tag="hold_released", **KW):
    order_id: str
    item_id: str
    qty: int
    reason: str  # not_confirmed: not kept by the release time


class NoticeView(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    params: dict[str, Any]
    link: str | None = None
    created_at: int  # epoch ms


class NoticeFrame(msgspec.Struct, tag="notice", **KW):
    notice: NoticeView


class Personal(msgspec.Struct, kw_only=True):
    """The envelope on a session's personal channel: whom the frame is for, and the frame as sent."""

    to: str
    frame: msgspec.Raw


class Error(msgspec.Struct, tag="error", **KW):
    code: str
    message: str
    request_id: str | None = None


# Broadcast events: published through Redis with seq and ts added.

class SessionLive(msgspec.Struct, tag="session_live", **KW):
    session_id: str


class SessionEnded(msgspec.Struct, tag="session_ended", **KW):
    session_id: str


class ItemAdded(msgspec.Struct, tag="item_added", **KW):
    item: ItemView


class ItemPinned(msgspec.Struct, tag="item_pinned", **KW):
    item_id: str


class FlashStarted(msgspec.Struct, tag="flash_started", **KW):
    item_id: str
    ends_at: int
    price_cents: int
    per_user_limit: int
    left: int
    plan_id: str | None = None  # the scheduled flash this started (stream.flash_schedule)


class FlashPlanView(msgspec.Struct, kw_only=True):
    """A flash sale the host scheduled: everyone sees the countdown to ``starts_at``."""

    id: str
    item_id: str
    starts_at: int  # epoch ms
    duration_s: int
    price_cents: int | None = None  # the sale's price; the item's when None
    per_user_limit: int | None = None  # the sale's limit; the item's when None


class FlashScheduled(msgspec.Struct, tag="flash_scheduled", **KW):
    plan: FlashPlanView


class FlashPlanCancelled(msgspec.Struct, tag="flash_plan_cancelled", **KW):
    plan_id: str


class Buyers(msgspec.Struct, tag="buyers", **KW):
    """The purchase ticker: ``count`` different people grabbed since the last one (王*香 等 12 人刚刚下单);
    ``names`` are the masked names of the first few of them who are registered residents."""

    count: int
    names: list[str] = []


class FlashEnded(msgspec.Struct, tag="flash_ended", **KW):
    item_id: str
    left: int


class LuckyBagStarted(msgspec.Struct, tag="lucky_bag_started", **KW):
    bag: LuckyBagView


class LuckyBagResult(msgspec.Struct, tag="lucky_bag_result", **KW):
    """Published with ``winners`` (user ids); viewers who are not staff get ``winner_names`` instead,
    and ``won`` on a winner's own copy (stream.audience)."""

    bag_id: str
    entrants: int
    winners: list[str] = []  # user ids: host, admin and operator viewers only
    winner_names: list[str] = []  # masked names ("" for someone not registered), in the order of winners
    won: bool = False
    seed: str = ""  # revealed: SHA-256(seed) is the seed_hash published when the bag opened
    seed_hash: str = ""
    rule: str = ""  # the stream.fairness rule; check it at /draws/<bag_id> or with linli verify-draw
    prizes: int = 0
    undrawn: int = 0  # prizes no eligible entrant was left for: they stay in stock


class RedPacketStarted(msgspec.Struct, tag="red_packet_started", **KW):
    packet_id: str
    shares: int
    total_points: int


class CommentEvent(msgspec.Struct, tag="comment", **KW):
    """Published with the author's ``user_id``, which only host, admin and operator viewers get."""

    text: str
    user_id: str = ""
    name: str = ""  # the author's masked name (王*香) when she is a registered resident
    role: str = ""  # the author's role, for a page to name staff (主播) and unregistered people


BroadcastEvent = (SessionLive | SessionEnded | ItemAdded | ItemPinned | FlashStarted | FlashEnded
                  | LuckyBagStarted | LuckyBagResult | RedPacketStarted | CommentEvent
                  | FlashScheduled | FlashPlanCancelled | Buyers)

encoder = msgspec.json.Encoder()


# Published by Lua scripts (stock and viewer counts are read inside Redis); listed for the docs.

class Stock(msgspec.Struct, tag="stock", **KW):
    item_id: str
    left: int


class Viewers(msgspec.Struct, tag="viewers", **KW):
    count: int
