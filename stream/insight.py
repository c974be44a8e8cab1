"""Host insight: the live chart (grabs per second, viewers, revenue) and the after-live summary.

The chart reads what the room counted in Redis as it happened: each grab and its revenue by the
second it succeeded (``note_purchase.lua``) and the viewers total sampled at every ticker beat
(``tick_session.lua``). The summary is read from SQL, the system of record: the session's orders
as the outbox worker wrote them, and its lucky-bag draws; only the viewer figures (peak, and the
people who joined) come from Redis, since no table keeps them.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

import msgspec
import sqlalchemy as sa

from infra.resources import as_str
from infra.tables import lucky_bag_draws, orders, session_items
from stream import keys
from stream.context import Live
from stream.sessions import SessionState

MAX_POINTS = 120
BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
NOT_SOLD = ("cancelled",)  # an order in this status sold nothing


class ChartPoint(msgspec.Struct, kw_only=True):
    t: int  # epoch ms of the bucket's start
    grabs: int  # successful grabs in the bucket (divide by bucket_s for grabs per second)
    revenue_cents: int
    viewers: int  # the most viewers seen in the bucket


class LiveChart(msgspec.Struct, kw_only=True):
    bucket_s: int
    points: list[ChartPoint]
    grabs: int
    revenue_cents: int
    peak_viewers: int
    viewers_now: int


class ItemSold(msgspec.Struct, kw_only=True):
    item_id: str
    title: str
    unit: str
    stock: int  # units the item was loaded with
    grabbed: int  # units taken by grabs (cancelled orders not counted)
    grab_orders: int
    held: int  # units of wish holds still standing
    prizes: int  # units won in lucky bags
    revenue_cents: int  # grabs and holds, at the price each order was taken at
    buyers: int  # different people who grabbed it


class BagLine(msgspec.Struct, kw_only=True):
    bag_id: str
    title: str
    entrants: int
    winners: int
    drawn_at: int  # epoch ms
    audit: str  # the page that recomputes the draw from its public audit (/draws/<bag id>)


class SessionSummary(msgspec.Struct, kw_only=True):
    session_id: str
    title: str
    status: str
    items: list[ItemSold]
    orders: int  # grab orders not cancelled
    buyers: int  # different people with a grab not cancelled
    revenue_cents: int
    peak_viewers: int  # the most connections at once (ticker samples)
    unique_viewers: int  # different people who joined, staff not counted
    conversion_pct: float  # buyers / unique viewers, in percent (one decimal)
    lucky_bags: list[BagLine]


async def _series(live: Live, sid: str, name: str) -> dict[int, int]:
    raw = await live.redis.hgetall(keys.insight(sid, name))
    return {int(as_str(k)): int(as_str(v)) for k, v in raw.items()}


async def chart(live: Live, sid: str) -> LiveChart:
    """The live chart: at most MAX_POINTS buckets from the first to the last second anything happened."""
    grabs = await _series(live, sid, "grabs")
    revenue = await _series(live, sid, "revenue")
    viewers = await _series(live, sid, "viewers")
    seconds = set(grabs) | set(revenue) | set(viewers)
    now_viewers = await live.hub.total_viewers(sid)
    if not seconds:
        return LiveChart(bucket_s=1, points=[], grabs=0, revenue_cents=0, peak_viewers=0, viewers_now=now_viewers)
    first, last = min(seconds), max(seconds)
    bucket = next((b for b in BUCKETS_S if (last - first) // b < MAX_POINTS), BUCKETS_S[-1])
    start = first - first % bucket
    count = (last - start) // bucket + 1
    points = [ChartPoint(t=(start + n * bucket) * 1000, grabs=0, revenue_cents=0, viewers=0) for n in range(count)]
    for second, n in grabs.items():
        points[(second - start) // bucket].grabs += n
    for second, cents in revenue.items():
        points[(second - start) // bucket].revenue_cents += cents
    sampled: set[int] = set()
    for second, v in viewers.items():
        at = (second - start) // bucket
        points[at].viewers = max(points[at].viewers, v)
        sampled.add(at)
    for at in range(1, count):
        if at not in sampled:
            points[at].viewers = points[at - 1].viewers  # no sample in this bucket: the room did not change
    return LiveChart(bucket_s=bucket, points=points, grabs=sum(grabs.values()), revenue_cents=sum(revenue.values()),
                     peak_viewers=max(viewers.values(), default=0), viewers_now=now_viewers)


async def summary(live: Live, state: SessionState) -> SessionSummary:
    """The after-live summary of a session, from its orders and draws in SQL."""
    sid = state.id
    async with live.engine.connect() as conn:
        catalog = (await conn.execute(sa.select(session_items).where(session_items.c.session_id == sid)
                                      .order_by(session_items.c.id))).all()
        rows = (await conn.execute(sa.select(orders.c.item_id, orders.c.user_id, orders.c.qty, orders.c.price_cents,
                                             orders.c.kind, orders.c.status)
                                   .where(orders.c.session_id == sid))).all()
        draws = (await conn.execute(sa.select(lucky_bag_draws).where(lucky_bag_draws.c.session_id == sid)
                                    .order_by(lucky_bag_draws.c.drawn_at))).all()
    sold = {r.id: ItemSold(item_id=r.id, title=r.title, unit=r.unit, stock=r.stock, grabbed=0, grab_orders=0, held=0,
                           prizes=0, revenue_cents=0, buyers=0) for r in catalog}
    buyers_of: dict[str, set[str]] = defaultdict(set)
    for o in rows:
        line = sold.get(o.item_id)
        if line is None or o.status in NOT_SOLD:
            continue
        if o.kind == "grab":
            line.grabbed += o.qty
            line.grab_orders += 1
            buyers_of[o.item_id].add(o.user_id)
        elif o.kind == "hold":
            line.held += o.qty
        else:
            line.prizes += o.qty
        if o.kind != "prize":
            line.revenue_cents += o.qty * o.price_cents
    for iid, people in buyers_of.items():
        sold[iid].buyers = len(people)
    buyers = len(set().union(*buyers_of.values())) if buyers_of else 0
    unique = int(await live.redis.scard(keys.seen_viewers(sid)))
    peak = max((int(as_str(v)) for v in (await live.redis.hvals(keys.insight(sid, "viewers")))), default=0)
    bags = [BagLine(bag_id=d.bag_id, title=d.title, entrants=len(json.loads(d.entrants)),
                    winners=len(json.loads(d.winners)), drawn_at=int(d.drawn_at.timestamp() * 1000),
                    audit=f"/draws/{d.bag_id}") for d in draws]
    return SessionSummary(
        session_id=sid, title=state.title, status=state.status, items=list(sold.values()),
        orders=sum(i.grab_orders for i in sold.values()), buyers=buyers,
        revenue_cents=sum(i.revenue_cents for i in sold.values()), peak_viewers=peak, unique_viewers=unique,
        conversion_pct=round(100 * buyers / unique, 1) if unique else 0.0, lucky_bags=bags)


def summary_csv(s: SessionSummary) -> str:
    """The summary as a CSV a spreadsheet opens (money in yuan with two decimals)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["session", s.session_id, s.title, s.status])
    w.writerow(["item", "title", "unit", "stock", "grabbed", "grab orders", "held", "prizes", "buyers",
                "revenue (yuan)"])
    for i in s.items:
        w.writerow([i.item_id, i.title, i.unit, i.stock, i.grabbed, i.grab_orders, i.held, i.prizes, i.buyers,
                    f"{i.revenue_cents / 100:.2f}"])
    w.writerow(["total", "", "", "", sum(i.grabbed for i in s.items), s.orders, sum(i.held for i in s.items),
                sum(i.prizes for i in s.items), s.buyers, f"{s.revenue_cents / 100:.2f}"])
    w.writerow([])
    w.writerow(["peak viewers", s.peak_viewers])
    w.writerow(["people who joined", s.unique_viewers])
    w.writerow(["buyers", s.buyers])
    w.writerow(["conversion %", s.conversion_pct])
    w.writerow([])
    w.writerow(["lucky bag", "title", "entrants", "winners", "audit"])
    for b in s.lucky_bags:
        w.writerow([b.bag_id, b.title, b.entrants, b.winners, b.audit])
    return out.getvalue()
