"""Grid boundaries: who registers residents where, whose wishes each role reads and changes, and a
chain import that stays in the importer's grid; an unknown resident answers as someone else's does."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, token

DAY = 24 * 3600 * 1000
OPERATOR = token("root", "operator", None)
ADMIN1, ADMIN2 = token("adm1", "admin", "c1"), token("adm2", "admin", "c2")
HOST1, HOST2 = token("host1", "host"), token("host2", "host", "c2")
GRID1, GRID2, GRID3 = token("grid1", "grid"), token("grid2", "grid"), token("grid3", "grid")
GRID_C2 = token("gridc2", "grid", "c2")
PICKUP = token("pick1", "pickup")
FARM = token("farm1", "supplier", "c1")  # a supplier token that carries a community
PRODUCT = {"id": "hongshu", "supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 1, "moq": 1,
           "capacity": 1000, "lead_time_hours": 1, "tiers": [{"min_qty": 0, "price_cents": 400}]}


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _setup(api: Api) -> dict[str, str]:
    """c1 (grid1: wang, li, wangfang1; grid2: sun, wangfang2) and c2 (gridc2: zhou), each with a pickup
    point, the supplier's product and an open wish window; answers the window ids."""
    windows = {}
    for cid, name, host in (("c1", "幸福里", HOST1), ("c2", "望江苑", HOST2)):
        await api.ok("POST", "/api/communities", OPERATOR, {"id": cid, "name": name})
        await api.ok("POST", f"/api/communities/{cid}/pickup-points", host, {"id": f"{cid}-p1", "name": "仁和药房"})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1", "c2"]})
    await api.ok("POST", "/api/products", OPERATOR, PRODUCT)
    for grid, cid, rid, name in ((GRID1, "c1", "wang", "王玉香"), (GRID1, "c1", "li", "李建国"),
                                 (GRID1, "c1", "wangfang1", "王芳"), (GRID2, "c1", "sun", "孙玉兰"),
                                 (GRID2, "c1", "wangfang2", "王芳"), (GRID_C2, "c2", "zhou", "周秀英")):
        await api.ok("POST", f"/api/communities/{cid}/residents", grid, {"id": rid, "name": name})
    now = int(time.time() * 1000)
    for cid, host in (("c1", HOST1), ("c2", HOST2)):
        session = await api.ok("POST", "/api/sessions", host, {"title": "周六直播", "community_id": cid})
        window = await api.ok("POST", "/api/wish-windows", host, {"session_id": session["id"],
                                                                   "live_at": now + 2 * DAY, "cutoff_at": now + DAY})
        windows[cid] = window["id"]
    return windows


def _wish(pickup: str = "c1-p1", **more: Any) -> dict[str, Any]:
    return {"product_id": "hongshu", "qty": 2, "pickup_point_id": pickup, **more}


async def _answer(api: Api, method: str, path: str, tok: str, body: Any = None) -> tuple[int, str, str]:
    status, data = await api.call(method, path, tok, body)
    error = data.get("error", {}) if isinstance(data, dict) else {}
    return status, error.get("code", ""), error.get("message", "")


async def test_residents_are_registered_by_the_communitys_hosts_admins_and_its_grid_workers_into_their_grid(
        api: Api) -> None:
    """Hosts and admins register into their community (naming any grid worker), an operator anywhere, a grid
    worker into her own grid only; an id registered anywhere already is 409 and stays as it was."""
    await _setup(api)
    person = {"name": "方大妈", "building": "3号楼", "room": "1205"}
    cases = [
        (token("wang"), "c1", {**person, "id": "n1"}, 403),
        (FARM, "c1", {**person, "id": "n2"}, 403),
        (PICKUP, "c1", {**person, "id": "n3"}, 403),
        (GRID1, "c2", {**person, "id": "n4"}, 403),
        (GRID1, "c1", {**person, "id": "n5", "grid_worker_id": "grid2"}, 403),
        (GRID1, "c1", {**person, "id": "zhou"}, 409),  # registered in c2: never taken over
        (HOST1, "c2", {**person, "id": "n6"}, 403),
        (ADMIN1, "c2", {**person, "id": "n7"}, 403),
        (GRID1, "c1", {**person, "id": "fang"}, 201),
        (HOST1, "c1", {**person, "id": "fang2", "grid_worker_id": "grid2"}, 201),
        (ADMIN1, "c1", {**person, "id": "fang3"}, 201),
        (OPERATOR, "c2", {**person, "id": "fang4", "grid_worker_id": "gridc2"}, 201),
        (GRID1, "c1", {**person, "id": "bad", "grid_worker_id": "a b"}, 400),
        (HOST1, "c1", {**person, "id": "long", "room": "1" * 33}, 400),
    ]
    for tok, cid, body, expected in cases:
        status, code, message = await _answer(api, "POST", f"/api/communities/{cid}/residents", tok, body)
        assert status == expected, (body["id"], status, code, message)
    listed = (await api.ok("GET", "/api/communities/c1/residents", HOST1))["residents"]
    c1 = {r["id"]: r["grid_worker_id"] for r in listed}
    assert (c1["fang"], c1["fang2"], c1["fang3"]) == ("grid1", "grid2", None)
    assert not {"n1", "n2", "n3", "n4", "n5", "n6", "n7", "zhou", "bad", "long"} & set(c1)
    listed = (await api.ok("GET", "/api/communities/c2/residents", ADMIN2))["residents"]
    c2 = {r["id"]: r["grid_worker_id"] for r in listed}
    assert c2 == {"zhou": "gridc2", "fang4": "gridc2"}


async def test_wishes_are_read_only_by_their_resident_and_those_who_act_for_her(api: Api) -> None:
    """A resident reads her own; her grid worker, the community's admin and an operator hers too; a host,
    another grid's worker, a pickup point, a supplier and another community's people do not."""
    windows = await _setup(api)
    wishes = f"/api/wish-windows/{windows['c1']}/wishes"
    await api.ok("POST", wishes, token("sun"), _wish())
    readers = {token("sun"): 200, GRID2: 200, ADMIN1: 200, OPERATOR: 200,
               GRID1: 403, GRID3: 403, HOST1: 403, PICKUP: 403, FARM: 403, token("li"): 403,
               ADMIN2: 403, GRID_C2: 403, token("zhou", community="c2"): 403}
    for tok, expected in readers.items():
        status, data = await api.call("GET", f"{wishes}?resident_id=sun", tok)
        assert status == expected, (tok, data)
        if status == 200:
            assert [(w["resident_id"], w["qty"]) for w in data["wishes"]] == [("sun", 2)]
    # The exploit of the issue: c1's grid worker asks for a c2 resident's wishes in c2's window.
    status, _, _ = await _answer(api, "GET", f"/api/wish-windows/{windows['c2']}/wishes?resident_id=zhou", GRID1)
    assert status == 403


async def test_wishes_are_entered_and_changed_only_by_those_who_act_for_the_resident(api: Api) -> None:
    """For sun (grid2's): she, grid2, c1's admin and an operator enter and change her lines; grid1, a host, a
    pickup point, a supplier and c2's people cannot, and what they try changes nothing."""
    windows = await _setup(api)
    wishes = f"/api/wish-windows/{windows['c1']}/wishes"
    writers = {token("sun"): 201, GRID2: 201, ADMIN1: 201, OPERATOR: 201,
               GRID1: 403, HOST1: 403, PICKUP: 403, FARM: 403, ADMIN2: 403, GRID_C2: 403}
    lines = []
    for tok, expected in writers.items():
        body = _wish() if tok == token("sun") else _wish(resident_id="sun")
        status, data = await api.call("POST", wishes, tok, body)
        assert status == expected, (tok, data)
        if status == 201:
            assert data["resident_id"] == "sun"
            lines.append(data["id"])
    for tok, expected in writers.items():
        status, data = await api.call("PATCH", f"{wishes}/{lines[0]}", tok, {"qty": 7})
        # Roles that never touch wishes are 403; another grid's worker is told no more than that there
        # is no such line of hers (404), so a line id reveals nothing.
        assert status == (200 if expected == 201 else 404 if tok == GRID1 else 403), (tok, data)
    kept = (await api.ok("GET", wishes, token("sun")))["wishes"]
    assert [(w["id"], w["qty"]) for w in kept] == [(lines[0], 7), *((lid, 2) for lid in lines[1:])]
    assert [w["entered_by"] for w in kept] == ["sun", "grid2", "adm1", "root"]


async def test_a_window_that_does_not_exist_is_404_for_everyone(api: Api) -> None:
    """GET .../wishes of no such window is 404 unknown_window, not an empty list."""
    await _setup(api)
    for tok in (token("wang"), GRID1, ADMIN1, OPERATOR, HOST1):
        for path in ("/api/wish-windows/nonexistent/wishes", "/api/wish-windows/nonexistent/wishes?resident_id=wang"):
            status, code, _ = await _answer(api, "GET", path, tok)
            assert (status, code) == (404, "unknown_window"), (path, status, code)


async def test_someone_elses_resident_answers_exactly_as_an_unknown_one(api: Api) -> None:
    """Reading or entering wishes for another grid's resident, another community's or no one at all: one
    status, code and message (only the id differs), so no answer tells which ids are registered."""
    windows = await _setup(api)
    wishes = f"/api/wish-windows/{windows['c1']}/wishes"
    for method, path, body in (("GET", f"{wishes}?resident_id={{rid}}", None),
                               ("POST", wishes, _wish(resident_id="{rid}"))):
        answers = set()
        for rid in ("sun", "zhou", "nobody-at-all"):
            concrete = json.loads(json.dumps(body).replace("{rid}", rid)) if body else None
            status, code, message = await _answer(api, method, path.replace("{rid}", rid), GRID1, concrete)
            answers.add((status, code, message.replace(rid, "<id>")))
        assert answers == {(403, "forbidden", "no resident <id> in your grid")}, (method, answers)
    # Someone else's line answers as a line that does not exist.
    line = await api.ok("POST", wishes, GRID2, _wish(resident_id="sun"))
    for method, body in (("PATCH", {"qty": 9}), ("DELETE", None)):
        answers = set()
        for lid in (line["id"], 99_999_999):
            status, code, message = await _answer(api, method, f"{wishes}/{lid}", GRID1, body)
            answers.add((status, code, message.replace(str(lid), "<id>")))
        assert answers == {(404, "unknown_wish", "no active wish <id> of yours in this window")}, answers
        status, code, _ = await _answer(api, method, f"{wishes}/{line['id']}", token("li"), body)
        assert (status, code) == (404, "unknown_wish")
    kept = (await api.ok("GET", f"{wishes}?resident_id=sun", GRID2))["wishes"]
    assert [(w["qty"], w["status"]) for w in kept] == [(2, "active")]
    assert (await api.ok("PATCH", f"{wishes}/{line['id']}", GRID2, {"qty": 4}))["qty"] == 4


async def test_a_grid_workers_chain_import_writes_only_for_her_grid(api: Api) -> None:
    """grid1's paste imports her resident's line, lists another grid's as not hers (by the line's words, no
    id), offers only her own 王芳 as a candidate; the host's paste of the same chain imports the rest."""
    windows = await _setup(api)
    wid = windows["c1"]
    chain = "#接龙 红薯\n1. 王玉香 红薯5斤\n2. 孙玉兰 红薯3斤\n3. 王芳 红薯1斤\n4. 老马 红薯2斤"
    body = {"text": chain, "pickup_point_id": "c1-p1"}
    status, mine = await api.call("POST", f"/api/wish-windows/{wid}/chain", GRID1, body)
    assert status == 200, mine
    assert [(w["resident_id"], w["qty"]) for w in mine["imported"]] == [("wang", 5)]
    assert mine["not_yours"] == [{"line": 2, "name": "孙玉兰", "household": "", "kind": "order"}]
    assert {u["name"]: u.get("candidates", []) for u in mine["unmatched_names"]} == {"王芳": ["wangfang1"], "老马": []}
    assert '"sun"' not in json.dumps(mine) and "wangfang2" not in json.dumps(mine)
    assert (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", token("sun")))["wishes"] == []

    # A grid worker with none of these residents imports nothing and learns no id.
    other = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID3, body)
    assert other["imported"] == [] and [n["line"] for n in other["not_yours"]] == [1, 2, 3]
    assert not any(u.get("candidates") for u in other["unmatched_names"])

    host = await api.ok("POST", f"/api/wish-windows/{wid}/chain", HOST1, body)
    assert [(w["resident_id"], w["qty"]) for w in host["imported"]] == [("sun", 3)]
    assert host["already_imported"] == 1 and host["not_yours"] == []
    assert sorted(next(u for u in host["unmatched_names"] if u["name"] == "王芳")["candidates"]) == [
        "wangfang1", "wangfang2"]
    for tok in (ADMIN1, OPERATOR):  # the whole community, like the host: everything is in already
        again = await api.ok("POST", f"/api/wish-windows/{wid}/chain", tok, body)
        assert (again["imported"], again["already_imported"], again["not_yours"]) == ([], 2, [])
    for tok in (token("wang"), PICKUP, FARM, GRID_C2, ADMIN2):
        status, _, _ = await _answer(api, "POST", f"/api/wish-windows/{wid}/chain", tok, body)
        assert status == 403
