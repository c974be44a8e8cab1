"""Proxy grabs (代下单): a grid worker grabs in the live room for a resident of her grid, over a real
websocket against a real ``linli web`` process. The order is the resident's (her limit, her order,
``proxy_by`` naming the grid worker), the resident's audit log shows it exactly once however often
the outbox entry is written, and everyone else who tries ``for_user`` is refused with nothing reserved."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.db import create_engine
from infra.resources import redis_client
from infra.tables import audit_log, orders
from inventory import outbox
from orders.outbox_worker import OutboxWorker
from tests.live import SECRET, Api, Client, token
from tests.servers import linli_env, shared_stores, start_linli

OPERATOR = token("root", "operator", None)
STOCK = 20
ITEM: dict[str, object] = {"title": "红薯", "price_cents": 350, "stock": STOCK, "per_user_limit": 2, "unit": "斤"}


@dataclass
class Server:
    api: Api
    ws: str
    engine: AsyncEngine
    redis: Redis


@dataclass
class Sale:
    """One community's live sale: cid, session, item, and the tokens of its people."""

    cid: str
    sid: str
    iid: str
    host: str
    grid: str  # grid worker of wang and li
    other_grid: str  # grid worker of sun
    admin: str


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("proxy")
    async with shared_stores(tmp) as (redis_url, db_url):
        # No worker process: the tests write the outbox themselves, as often as they like.
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        web = await start_linli(["web"], env, tmp / "web.log")
        engine, redis = create_engine(db_url), redis_client(redis_url)
        try:
            async with aiohttp.ClientSession() as http:
                yield Server(Api(http, web.url), web.url.replace("http", "ws"), engine, redis)
        finally:
            web.stop()
            await engine.dispose()
            await redis.aclose()


async def _sale(server: Server, *, item: dict[str, object] = ITEM) -> Sale:
    """A fresh community (so tests share nothing) with grid workers, residents and an open flash sale."""
    cid = "c" + uuid.uuid4().hex[:8]
    host, admin = token(f"{cid}-host", "host", cid), token(f"{cid}-admin", "admin", cid)
    grid, other = token(f"{cid}-grid", "grid", cid), token(f"{cid}-grid2", "grid", cid)
    api = server.api
    await api.ok("POST", "/api/communities", OPERATOR, {"id": cid, "name": "幸福里"})
    people = ((grid, f"{cid}-wang", "王玉香"), (grid, f"{cid}-li", "李建国"), (other, f"{cid}-sun", "孙玉兰"))
    for tok, rid, name in people:
        await api.ok("POST", f"/api/communities/{cid}/residents", tok, {"id": rid, "name": name})
    s = await api.ok("POST", "/api/sessions", host, {"title": "周六直播", "community_id": cid})
    iid = (await api.ok("POST", f"/api/sessions/{s['id']}/items", host, item))["id"]
    await api.ok("POST", f"/api/sessions/{s['id']}/live", host)
    await api.ok("POST", f"/api/sessions/{s['id']}/items/{iid}/flash", host, {"duration_s": 120})
    return Sale(cid, s["id"], iid, host, grid, other, admin)


async def _grab(client: Client, iid: str, rid: str, *, qty: int = 1, for_user: str | None = None) -> dict[str, object]:
    frame: dict[str, object] = {"type": "grab", "item_id": iid, "qty": qty, "request_id": rid}
    if for_user is not None:
        frame["for_user"] = for_user
    await client.send(frame)
    return await client.wait_for(lambda e: e.get("request_id") == rid and e["type"] in ("grab_result", "error"))


async def _entries(server: Server, sid: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await server.redis.xrange(  # type: ignore[assignment]
        outbox.outbox_key(sid))
    return entries


async def _left(server: Server, sid: str, iid: str) -> int:
    items = (await server.api.ok("GET", f"/api/sessions/{sid}", token("x", "operator", None)))["items"]
    return next(int(i["left"]) for i in items if i["id"] == iid)


async def test_a_grid_worker_grabs_for_her_resident_and_the_audit_shows_it_once(server: Server) -> None:
    """The order is the resident's with proxy_by set; writing the outbox entry three times leaves one
    order and one audit entry, which the resident reads and no one else does."""
    sale = await _sale(server)
    wang = f"{sale.cid}-wang"
    desk = await Client.join(server.ws, sale.sid, sale.grid)
    result = await _grab(desk, sale.iid, "p1", qty=2, for_user=wang)
    assert result["type"] == "grab_result" and result["ok"] and result["left"] == 18, result
    # Her snapshot lists the order as hers.
    resident = await Client.join(server.ws, sale.sid, token(wang, community=sale.cid))
    assert [o["id"] for o in resident.of_type("snapshot")[0]["orders"]] == [result["order_id"]]
    assert desk.of_type("snapshot")[0]["orders"] == []

    entries = await _entries(server, sale.sid)
    assert len(entries) == 1
    fields = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert (fields["user"], fields["proxy"]) == (wang, f"{sale.cid}-grid")
    worker = OutboxWorker(server.redis, server.engine, consumer="proxy-test")
    await worker.write(entries)
    await worker.write(entries)  # a retry after a crash between commit and ack
    await worker.drain_once()  # and the ordinary pass, which writes it a third time
    async with server.engine.connect() as conn:
        rows = (await conn.execute(sa.select(orders).where(orders.c.session_id == sale.sid))).all()
        audits = (await conn.execute(sa.select(audit_log).where(audit_log.c.resident_id == wang))).all()
    assert [(r.id, r.user_id, r.proxy_by, r.qty) for r in rows] == [(result["order_id"], wang, f"{sale.cid}-grid", 2)]
    assert len(audits) == 1 and audits[0].community_id == sale.cid

    mine = (await server.api.ok("GET", "/api/me/orders", token(wang, community=sale.cid)))["orders"]
    assert [(o["id"], o["proxy_by"]) for o in mine] == [(result["order_id"], f"{sale.cid}-grid")]
    log = await server.api.ok("GET", "/api/me/audit", token(wang, community=sale.cid))
    (entry,) = log["entries"]
    assert (entry["actor_id"], entry["actor_role"], entry["action"]) == (f"{sale.cid}-grid", "grid", "proxy_grab")
    assert entry["detail"] == {"order_id": result["order_id"], "session_id": sale.sid, "item_id": sale.iid,
                               "qty": 2, "price_cents": 350, "title": "红薯", "unit": "斤"}
    assert set(entry) == {"id", "actor_id", "actor_name", "actor_role", "action", "detail", "at"}
    # Someone else's log is her own: li has none, and the grid worker reads no resident's log.
    assert (await server.api.ok("GET", "/api/me/audit", token(f"{sale.cid}-li", community=sale.cid)))["entries"] == []
    status, body = await server.api.call("GET", "/api/me/audit", sale.grid)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, _ = await server.api.call("GET", "/api/me/audit", None)
    assert status == 401
    for c in (desk, resident):
        await c.close()


async def test_a_release_written_before_its_proxy_reservation_still_records_the_proxy_once(server: Server) -> None:
    """The release of a proxy order reaches SQL before its reservation (pending in a dead consumer): the
    order is cancelled, proxy_by is filled in when the reservation arrives, and the audit entry is one."""
    sale = await _sale(server)
    wang = f"{sale.cid}-wang"
    desk = await Client.join(server.ws, sale.sid, sale.grid)
    result = await _grab(desk, sale.iid, "p1", for_user=wang)
    assert result["ok"]
    await desk.close()
    (reserved,) = await _entries(server, sale.sid)
    fields = {k.decode(): v.decode() for k, v in reserved[1].items() if k != b"proxy"}
    released = {**fields, "event": "released", "changed_ts": fields["ts"], "why": "cancel"}
    worker = OutboxWorker(server.redis, server.engine, consumer="proxy-order")
    await worker.write([(b"0-1", {k.encode(): str(v).encode() for k, v in released.items()})])
    for _ in range(2):
        await worker.write([reserved])
    async with server.engine.connect() as conn:
        row = (await conn.execute(sa.select(orders).where(orders.c.id == result["order_id"]))).one()
        audits = (await conn.execute(sa.select(audit_log).where(audit_log.c.resident_id == wang))).all()
    assert (row.user_id, row.status, row.proxy_by) == (wang, "cancelled", f"{sale.cid}-grid")
    assert [a.action for a in audits] == ["proxy_grab"]


async def test_for_user_from_anyone_but_her_grid_worker_is_refused_and_reserves_nothing(server: Server) -> None:
    """Another grid's worker, a resident, an admin and an unknown or other community's resident all get
    not_your_resident; a host may not grab at all; a grid worker of another community cannot join."""
    sale = await _sale(server)
    other_sale = await _sale(server)
    wang = f"{sale.cid}-wang"
    refused = [
        (sale.other_grid, wang),  # a grid worker of the same community, another grid
        (token(f"{sale.cid}-li", community=sale.cid), wang),  # a neighbour
        (sale.admin, wang),  # admins may not proxy: only her own grid worker
        (sale.grid, "nobody-at-all"),  # unknown: answered as someone else's
        (sale.grid, f"{other_sale.cid}-wang"),  # a resident of another community
        (sale.grid, f"{sale.cid}-grid"),  # herself
    ]
    for n, (tok, resident) in enumerate(refused):
        client = await Client.join(server.ws, sale.sid, tok)
        result = await _grab(client, sale.iid, f"r{n}", for_user=resident)
        assert (result["type"], result["ok"], result["reason"]) == ("grab_result", False, "not_your_resident"), \
            (n, result)
        await client.close()
    host = await Client.join(server.ws, sale.sid, sale.host)
    result = await _grab(host, sale.iid, "h1", for_user=wang)
    assert (result["type"], result["code"]) == ("error", "forbidden")
    await host.close()
    # The other community's grid worker is refused at the door.
    with pytest.raises(Exception, match="403"):
        await Client.join(server.ws, sale.sid, other_sale.grid)
    # A bad id is a bad frame, as any malformed grab.
    desk = await Client.join(server.ws, sale.sid, sale.grid)
    await desk.send({"type": "grab", "item_id": sale.iid, "request_id": "bad", "for_user": "a b{c}"})
    assert (await desk.wait_for(lambda e: e["type"] == "error"))["code"] == "bad_frame"
    await desk.close()
    assert await _entries(server, sale.sid) == []
    assert await _left(server, sale.sid, sale.iid) == STOCK


async def test_limits_and_request_ids_are_the_residents_whoever_grabs(server: Server) -> None:
    """The per-user limit counts the resident's own grabs and those made for her together; a request id
    repeated by the grid worker answers the first order again, and never collides with the resident's own."""
    sale = await _sale(server)
    wang, li = f"{sale.cid}-wang", f"{sale.cid}-li"
    resident = await Client.join(server.ws, sale.sid, token(wang, community=sale.cid))
    desk = await Client.join(server.ws, sale.sid, sale.grid)
    own = await _grab(resident, sale.iid, "same")
    assert own["ok"]
    first = await _grab(desk, sale.iid, "same", for_user=wang)  # her id, another namespace
    assert first["ok"] and first["order_id"] != own["order_id"]
    await desk.send({"type": "grab", "item_id": sale.iid, "qty": 1, "request_id": "same", "for_user": wang})
    await desk.wait_for(lambda e: e["type"] == "grab_result" and e is not first)
    assert desk.of_type("grab_result")[-1]["order_id"] == first["order_id"]
    over = await _grab(desk, sale.iid, "more", for_user=wang)
    assert (over["ok"], over["reason"]) == (False, "limit")
    assert (await _grab(resident, sale.iid, "mine-again"))["reason"] == "limit"
    # li's limit is hers alone: the grid worker grabbing for wang does not use it up.
    assert (await _grab(desk, sale.iid, "for-li", qty=2, for_user=li))["ok"]
    assert await _left(server, sale.sid, sale.iid) == STOCK - 4
    proxies = [e[1][b"proxy"].decode() for e in await _entries(server, sale.sid)]
    assert proxies == ["", f"{sale.cid}-grid", f"{sale.cid}-grid"]
    for c in (desk, resident):
        await c.close()


async def test_the_grid_workers_own_grab_rate_limit_applies(server: Server) -> None:
    """Grabbing for residents spends the grid worker's own grab tokens: a burst is slowed down."""
    sale = await _sale(server, item={**ITEM, "stock": 100, "per_user_limit": 0})
    desk = await Client.join(server.ws, sale.sid, sale.grid)
    answers = [await _grab(desk, sale.iid, f"b{n}", for_user=f"{sale.cid}-wang") for n in range(14)]
    assert any(a["type"] == "error" and a["code"] == "rate_limited" for a in answers), answers
    assert all(a["ok"] for a in answers if a["type"] == "grab_result")
    await desk.close()
