"""`linli serve --demo`: a community's whole week, and the people to try it as.

Today's live session is on, with items, the holds an earlier wish window's cutoff made (one
confirmed, one not) and that cutoff's surplus on a flash sale; the supplier orders it made are on
the suppliers' boards. The next live's wish window is open, with products from two suppliers
(price tiers, minimums, case sizes) and a few wishes in. Residents are registered with their
buildings and rooms in a grid worker's grid. Everything is made once and kept across restarts.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from aiohttp import web

from community.api import (
    CommunityExists,
    NewBuilding,
    NewPickupPoint,
    NewResident,
    NewReward,
    StaffBinding,
    add_pickup_point,
    add_resident,
    bind_staff,
    create_community,
    create_reward,
    post_fund,
    post_points,
    set_building,
)
from crowdfund import api as crowdfund
from infra.auth import Principal, issue_token
from infra.resources import Resources
from infra.tables import wish_windows
from orders import api as orders
from stream import api as stream

log = logging.getLogger(__name__)

COMMUNITY = ("demo", "幸福里社区")
DEMO_KEY = "linli:demo:week"  # JSON: today's session, the earlier window, the next session and its window
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS

ITEMS = [
    stream.NewItem(title="海鸭蛋", price_cents=2800, stock=60, per_user_limit=2, unit="盒"),
    stream.NewItem(title="新小米", price_cents=800, stock=100, per_user_limit=3, unit="斤"),
]
POINTS = [NewPickupPoint(id="renhe", name="仁和药房", address="幸福路1号", kind="pharmacy", lat=31.2300, lng=121.4700,
                         hours="08:00-21:00"),
          NewPickupPoint(id="locker3", name="3号楼快递柜", address="3号楼东门", kind="locker", lat=31.2312,
                         lng=121.4721, hours="全天", capacity=48)]
# Where the buildings stand: a resident's nearest point is her default one.
BUILDINGS = [NewBuilding(name="3号楼", lat=31.2311, lng=121.4719), NewBuilding(name="5号楼", lat=31.2302, lng=121.4703),
             NewBuilding(name="7号楼", lat=31.2298, lng=121.4696)]
PICKUP_STAFF = ("demo-renhe", "仁和药房 店员 小林", "renhe")
GRID_WORKER = "demo-grid"
# (user id, chooser label, registered name, building, room)
RESIDENTS = [("wang-ayi", "王阿姨", "王玉香", "3号楼", "1205"), ("li-dashu", "李大叔", "李建国", "3号楼", "802"),
             ("zhao-nainai", "赵奶奶", "赵秀英", "5号楼", "301"), ("sun-ayi", "孙阿姨", "孙桂兰", "5号楼", "502"),
             ("zhou-daye", "周大爷", "周德明", "7号楼", "101")]
# What the group chat calls them: a pasted 接龙 line "🍀开心果🍀 红薯5斤" is 孙桂兰's.
ALIASES = {"sun-ayi": ["开心果"], "zhou-daye": ["老周"]}
CHOOSER_RESIDENTS = 3  # the first three are offered in the chooser; the rest are in the grid
SUPPLIERS = [("demo-farm", "东山农场"), ("demo-orchard", "西岭果园")]
PRODUCTS: list[dict[str, Any]] = [
    {"id": "demo-hongshu", "supplier_id": "demo-farm", "name": "红薯", "aliases": ["地瓜", "番薯"], "unit": "斤",
     "case_size": 10, "moq": 30, "capacity": 300, "lead_time_hours": 12,
     "tiers": [{"min_qty": 0, "price_cents": 400}, {"min_qty": 50, "price_cents": 350},
               {"min_qty": 100, "price_cents": 300}]},
    {"id": "demo-jidan", "supplier_id": "demo-farm", "name": "土鸡蛋", "aliases": ["鸡蛋"], "unit": "盒",
     "case_size": 1, "moq": 10, "capacity": 60, "lead_time_hours": 12,
     "tiers": [{"min_qty": 0, "price_cents": 2800}, {"min_qty": 20, "price_cents": 2500}]},
    {"id": "demo-pingguo", "supplier_id": "demo-orchard", "name": "苹果", "aliases": ["红富士"], "unit": "斤",
     "case_size": 10, "moq": 40, "capacity": 200, "lead_time_hours": 12,
     "tiers": [{"min_qty": 0, "price_cents": 600}, {"min_qty": 80, "price_cents": 520}]},
    # Shelled walnuts take a day to come: a window that closes 12 hours before its live is warned.
    {"id": "demo-hetao", "supplier_id": "demo-orchard", "name": "核桃", "unit": "斤",
     "case_size": 5, "moq": 20, "capacity": 100, "lead_time_hours": 24,
     "tiers": [{"min_qty": 0, "price_cents": 3000}, {"min_qty": 40, "price_cents": 2600}]},
]
# The earlier window (today's live): 红薯 35斤 makes its minimum of 30 (4 cases, 5斤 surplus),
# 苹果 50斤 its 40, 土鸡蛋 3盒 misses its 10.
EARLIER_WISHES = [("wang-ayi", "demo-hongshu", 10, "renhe"), ("li-dashu", "demo-hongshu", 20, "locker3"),
                  ("zhao-nainai", "demo-hongshu", 5, "renhe"), ("li-dashu", "demo-pingguo", 30, "locker3"),
                  ("sun-ayi", "demo-pingguo", 20, "renhe"), ("wang-ayi", "demo-jidan", 2, "renhe"),
                  ("zhao-nainai", "demo-jidan", 1, "renhe")]
# The next live's open window: a few wishes in, one of them a grid worker's for a neighbour.
NEXT_WISHES = [("wang-ayi", "demo-hongshu", 10, "renhe"), ("zhao-nainai", "demo-jidan", 2, "renhe"),
               ("li-dashu", "demo-pingguo", 20, "locker3"), ("zhou-daye", "demo-hongshu", 8, "renhe")]
NEXT_FREE_TEXT = ("sun-ayi", "土蜂蜜", 2, "renhe")
ADMIN = ("demo-admin", "社区管理员 陈主任")
REWARDS = [NewReward(id="demo-xiyiye", title="洗衣液一瓶", points=60, kind="goods", stock=20),
           NewReward(id="demo-fee10", title="抵物业费10元", points=100, kind="fee_offset", value_cents=1000),
           NewReward(id="demo-fee50", title="抵物业费50元", points=450, kind="fee_offset", value_cents=5000, stock=10)]
# Orders collected in the last two months: (resident, order, cents, days ago). Each earned its points
# and paid the fund's 10%, as the pickup counter's collections do.
PAST_ORDERS = [("wang-ayi", "demo-past-1", 8800, 40), ("li-dashu", "demo-past-2", 15600, 35),
               ("zhao-nainai", "demo-past-3", 4200, 33), ("wang-ayi", "demo-past-4", 12000, 6),
               ("sun-ayi", "demo-past-5", 25000, 4), ("li-dashu", "demo-past-6", 6400, 2)]


def _principal(user: str, role: str) -> Principal:
    return Principal(user_id=user, role=role, community_id=COMMUNITY[0])


async def _week(res: Resources) -> dict[str, str]:
    raw = await res.redis.get(DEMO_KEY)
    return json.loads(raw) if raw else {}


# Headers a reverse proxy adds: behind one, every visitor would look local.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def is_local_client(request: web.Request) -> bool:
    """A request from this machine itself, not relayed by a proxy: the chooser hands out host tokens."""
    if any(header in request.headers for header in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _local_base(res: Resources) -> str:
    """The address of the front page on this machine (the chooser answers nobody else)."""
    host = res.settings.host
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    return f"http://{host if local else '127.0.0.1'}:{res.settings.port}"


async def demo_people(res: Resources) -> dict[str, Any]:
    """Who to be in the demo, each with a token and the pages to open (the links carry no token)."""
    week = await _week(res)
    today, next_window = week.get("today", ""), week.get("next_window", "")

    def person(user: str, name: str, role: str, links: list[tuple[str, str]]) -> dict[str, Any]:
        token = issue_token(res.secret, user_id=user, role=role,
                            community_id=None if role == "supplier" else COMMUNITY[0])
        return {"name": name, "role": role, "user_id": user, "token": token, "url": links[0][1],
                "links": [{"label": label, "url": url} for label, url in links]}

    resident_links = [("进直播间", f"/live/{today}"), ("下期心愿单", f"/wishes/{next_window}"), ("我的积分", "/points"),
                      ("我的订单", "/orders"), ("谁替我办过事", "/activity")]
    people = [person(user, label, "resident", resident_links) for user, label, *_ in RESIDENTS[:CHOOSER_RESIDENTS]]
    people.append(person("demo-host", "主播 小周", "host", [
        ("今天的直播", f"/host?session={today}"), ("下期心愿单", f"/host?session={week.get('next_session', '')}")]))
    people.append(person(GRID_WORKER, "网格员 刘姐", "grid", [("网格员工作台", "/grid")]))
    people.append(person(PICKUP_STAFF[0], PICKUP_STAFF[1], "pickup", [("自提点柜台", "/pickup")]))
    people += [person(user, f"供应商 {name}", "supplier", [("供应商看板", "/supplier")]) for user, name in SUPPLIERS]
    people.append(person(*ADMIN, "admin", [("社区办公室", "/office"), ("基金公示", f"/fund/{COMMUNITY[0]}")]))
    return {"session_id": today, "people": people}


async def _people_and_catalog(res: Resources) -> None:
    try:
        await create_community(res.engine, *COMMUNITY)
    except CommunityExists:
        return  # made by an earlier start
    for point in POINTS:
        await add_pickup_point(res.engine, COMMUNITY[0], point)
    for place in BUILDINGS:
        await set_building(res.engine, COMMUNITY[0], place)
    await bind_staff(res.engine, COMMUNITY[0], StaffBinding(user_id=PICKUP_STAFF[0], pickup_point_id=PICKUP_STAFF[2]),
                     added_by=ADMIN[0])
    for user, _, name, building, room in RESIDENTS:
        await add_resident(res.engine, COMMUNITY[0], NewResident(
            id=user, name=name, building=building, room=room, grid_worker_id=GRID_WORKER,
            aliases=ALIASES.get(user, [])))
    for user, name in SUPPLIERS:
        serves = [COMMUNITY[0]]
        await crowdfund.add_supplier(res.engine, crowdfund.NewSupplier(id=user, name=name, community_ids=serves))
    for product in PRODUCTS:
        await crowdfund.add_product(res.engine, msgspec.convert(product, crowdfund.NewProduct))
    await _ledgers(res)


async def _ledgers(res: Resources) -> None:
    """Rewards to exchange points for, points earned and awarded, and a fund with income and a spending."""
    cid = COMMUNITY[0]
    for reward in REWARDS:
        await create_reward(res.engine, cid, reward)
    now = datetime.now(UTC)
    async with res.engine.begin() as conn:
        for user, order, cents, days in PAST_ORDERS:
            at = now - timedelta(days=days)
            await post_points(conn, entry_id=f"collected:{order}", user_id=user, points=cents // 100,
                              reason="collected", community_id=cid, ref=order, at=at)
            await post_fund(conn, entry_id=f"order:{order}", community_id=cid, kind="income",
                            amount_cents=cents // 10, ref=order, at=at)
        await post_points(conn, entry_id="award:demo-grid:demo-1", user_id="zhao-nainai", points=30,
                          reason="volunteer", community_id=cid, note="帮忙分拣快递", actor_id=GRID_WORKER,
                          at=now - timedelta(days=3))
        await post_fund(conn, entry_id="spend:demo:lamps", community_id=cid, kind="spending", amount_cents=3000,
                        project="楼道灯更换", note="业委会会议通过", actor_id=ADMIN[0], at=now - timedelta(days=1))


async def _wish(res: Resources, wid: str, user: str, product: str | None, qty: int, point: str,
                free_text: str | None = None) -> None:
    if user in {u for u, *_ in RESIDENTS[:CHOOSER_RESIDENTS]} or free_text:
        who, resident = _principal(user, "resident"), None
    else:  # a neighbour without a phone: the grid worker enters it for them
        who, resident = _principal(GRID_WORKER, "grid"), user
    await crowdfund.add_wish(res.engine, who, wid, crowdfund.NewWish(
        product_id=product, free_text=free_text, qty=qty, pickup_point_id=point, resident_id=resident))


async def _today(res: Resources, live: stream.Live, host: Principal, now: int) -> tuple[str, str]:
    """Today's live session, opened by an earlier window whose cutoff has just run."""
    state = await stream.create_session(live, host, "周六助农直播", COMMUNITY[0])
    for item in ITEMS:
        await stream.add_item(live, state.id, item)
    window = await crowdfund.create_window(res.engine, host, crowdfund.NewWindow(
        session_id=state.id, live_at=now + HOUR_MS, cutoff_at=now + HOUR_MS // 2, hold_release_at=now + 8 * HOUR_MS))
    for user, product, qty, point in EARLIER_WISHES:
        await _wish(res, window.id, user, product, qty, point)
    # Closed now, as the host's 立即截单 does: the cutoff moves to this moment and its work runs.
    async with res.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == window.id)
                           .values(cutoff_at=datetime.now(UTC)))
    await crowdfund.run_cutoff(live, window.id)
    await stream.go_live(live, state)
    # One resident has kept her hold already; the other has not yet.
    for order in await live.inventory.orders_of(state.id, "wang-ayi"):
        if order["kind"] == "hold":
            await live.inventory.confirm_hold(state.id, str(order["id"]), "wang-ayi")
    # What no wish holds is sold in the live room: a flash sale on the surplus.
    state = await stream.load_session(live, state.id)
    by_title = {i.title: i.id for i in await stream.items(live, state.id)}
    if "新小米" in by_title:
        # 赵奶奶 has no phone for the live: her grid worker 刘姐 grabbed 新小米 for her (代下单), which her
        # "谁替我办过事" page shows once the worker has written the order.
        await stream.start_flash(live, state, by_title["新小米"], 6 * 3600, None, None)
        await live.inventory.reserve(state.id, by_title["新小米"], "zhao-nainai", 2, "demo-proxy-1", proxy=GRID_WORKER)
    surplus = [i for i in await stream.items(live, state.id) if i.title == "红薯"]
    if surplus:
        await stream.pin(live, state, surplus[0].id)
        await stream.start_flash(live, state, surplus[0].id, 6 * 3600, None, 5)
    # A lucky bag drawn in half an hour that prefers neighbours who have not won this month: its seed's
    # hash is on screen now, and the result links to /draws/<bag>, where anyone checks the draw.
    await stream.create_bag(live, state, stream.NewLuckyBag(
        title="鸡蛋福袋", winners=3, countdown_s=30 * 60, prize_points=20, prefer_new_days=30, monthly_cap=2))
    if "海鸭蛋" in by_title:
        # Next up: a 海鸭蛋 flash in 4 minutes (everyone sees the countdown) and another round later.
        for in_s, price in ((4 * 60, 2500), (40 * 60, 2600)):
            await stream.schedule_flash(live, state, stream.NewFlashPlan(
                item_id=by_title["海鸭蛋"], in_s=in_s, duration_s=10 * 60, price_cents=price))
    return state.id, window.id


async def seed_demo(res: Resources, live: stream.Live) -> list[str]:
    """Create the demo week once (kept across restarts); returns the lines to print."""
    week = await _week(res)
    try:
        await stream.load_session(live, week.get("today", ""))
    except (stream.SessionNotFound, ValueError):
        await _people_and_catalog(res)
        host = _principal("demo-host", "host")
        now = int(time.time() * 1000)
        today, earlier = await _today(res, live, host, now)
        nxt = await stream.create_session(live, host, "下周六助农直播", COMMUNITY[0])
        window = await crowdfund.create_window(res.engine, host, crowdfund.NewWindow(
            session_id=nxt.id, live_at=now + 3 * DAY_MS, open_days_before=5))
        for user, product, qty, point in NEXT_WISHES:
            await _wish(res, window.id, user, product, qty, point)
        user, text, qty, point = NEXT_FREE_TEXT
        await _wish(res, window.id, user, None, qty, point, free_text=text)
        # Today's holds reach SQL and their pickup points now, so the counter and my orders show codes.
        await orders.OutboxWorker(res.redis, res.engine, consumer="demo-seed").drain_once()
        await orders.place_orders(res.engine)
        week = {"today": today, "earlier_window": earlier, "next_session": nxt.id, "next_window": window.id}
        await res.redis.set(DEMO_KEY, json.dumps(week))
    # Links to the chooser only: a token printed here would sit in every copy of the log.
    base = _local_base(res)
    lines = [f"demo community {COMMUNITY[0]} ({COMMUNITY[1]}): live session {week['today']} today, "
             f"wish window {week['next_window']} open for the next live; choose who to be at {base}/ "
             "(on this machine only)"]
    for person in (await demo_people(res))["people"]:
        lines.append(f"  {person['role']} {person['user_id']}: {base}/?as={person['user_id']}")
    return lines
