"""The chain import a grid worker can trust: a preview that writes nothing, a confirm with her corrections,
re-pastes recognised by content (renumbered, appended), app wishes flagged not doubled, edits applied once,
residents found by their aliases, grid boundaries, and every bad input a 4xx that changes nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.settings import Settings
from infra.tables import chain_edits, residents, wish_lines
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
GRID = token("grid1", "grid")
GRID2 = token("grid2", "grid")
FARM = token("farm1", "supplier", None)
DAY = 24 * 3600 * 1000
PRODUCTS = [
    {"id": "pg", "name": "苹果", "unit": "斤", "case_size": 20},
    {"id": "li", "name": "梨", "unit": "斤", "case_size": 20},
    {"id": "jidan", "name": "鸡蛋", "unit": "枚", "case_size": 30},
]
# id, name, building, room, grid worker, aliases
RESIDENTS = [("meng", "孟秀英", "17", "1205", "grid1", []), ("wang1", "王芳", "3", "1205", "grid1", []),
             ("wang2", "王芳", "12", "602", "grid1", []), ("zhou", "周建国", "6", "702", "grid1", []),
             ("kai", "林晓", "9", "301", "grid1", ["开心果"]), ("sun", "孙玉兰", "5", "101", "grid2", [])]


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _window(api: Api) -> str:
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    for pid, name in (("p1", "仁和药房"), ("p2", "康宁大药房")):
        await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {"id": pid, "name": name})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    for product in PRODUCTS:
        await api.ok("POST", "/api/products", FARM, {
            **product, "supplier_id": "farm1", "moq": 1, "capacity": 1000,
            "tiers": [{"min_qty": 0, "price_cents": 500}]})
    for rid, name, building, room, grid, aliases in RESIDENTS:
        await api.ok("POST", "/api/communities/c1/residents", HOST, {
            "id": rid, "name": name, "building": building, "room": room, "grid_worker_id": grid, "aliases": aliases})
    session = await api.ok("POST", "/api/sessions", HOST, {"title": "周六", "community_id": "c1"})
    now = int(time.time() * 1000)
    window = await api.ok("POST", "/api/wish-windows", HOST, {
        "session_id": session["id"], "live_at": now + 2 * DAY, "cutoff_at": now + DAY})
    return str(window["id"])


async def _sql(engine: AsyncEngine) -> list[Any]:
    """Everything the import could write, to compare before and after."""
    async with engine.connect() as conn:
        found = []
        for table in (wish_lines, chain_edits, residents):
            found.append([tuple(r) for r in (await conn.execute(sa.select(table).order_by(*table.primary_key)))])
        return found


def _body(text: str, **more: Any) -> dict[str, Any]:
    return {"text": text, "pickup_point_id": "p1", **more}


def _by_row(preview: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["ref"]: line for line in preview["lines"]}


async def _wishes(engine: AsyncEngine) -> list[tuple[str, str, int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(wish_lines).order_by(wish_lines.c.id))
        return sorted((r.resident_id, r.product_id, r.qty, r.status) for r in rows)


CHAIN = "\n".join([
    "#接龙 周六水果",         # row 1
    "1. 孟秀英 苹果5斤",      # row 2
    "2. 王芳 梨3斤",          # row 3: two 王芳
    "3. 周建国 鸡蛋半箱",      # row 4: a case, to confirm
    "4. 🍀开心果🍀 苹果2斤",   # row 5: an alias
    "5. 孙玉兰 苹果1斤",      # row 6: another grid
    "6. 老马 梨2斤",          # row 7: nobody
    "有香油吗？要一瓶",         # row 8
])


async def test_the_preview_writes_nothing_and_says_what_each_line_would_do(api: Api, engine: AsyncEngine) -> None:
    wid = await _window(api)
    before = await _sql(engine)
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(CHAIN))
    assert await _sql(engine) == before
    lines = _by_row(preview)
    assert [(ln["row"], ln["status"]) for ln in preview["lines"]] == [
        (1, "unparsed"), (2, "new"), (3, "unmatched_name"), (4, "unmatched_product"), (5, "new"), (6, "not_yours"),
        (7, "unmatched_name"), (8, "question")]
    assert (lines["2.0"]["resident_id"], lines["2.0"]["product_id"], lines["2.0"]["qty"]) == ("meng", "pg", 5)
    assert lines["2.0"]["resident_name"] == "孟秀英" and lines["2.0"]["pickup_point_id"] == "p1"
    assert lines["5.0"]["resident_id"] == "kai"  # 🍀开心果🍀 is 林晓's alias
    assert lines["3.0"]["candidates"] == [{"id": "wang1", "name": "王芳", "household": "3-1205"},
                                          {"id": "wang2", "name": "王芳", "household": "12-602"}]
    assert lines["4.0"]["suggested_qty"] == 15 and lines["4.0"]["product_candidates"][0]["id"] == "jidan"
    assert "resident_id" not in lines["6.0"] and "sun" not in str(preview)  # another grid's: no id
    assert preview["counts"] == {"unparsed": 1, "new": 2, "unmatched_name": 2, "unmatched_product": 1,
                                 "not_yours": 1, "question": 1}
    assert [d["product"] for d in preview["demand_signals"]] == ["香油"]
    # The confirm with her corrections writes exactly what the preview with them shows.
    fixes = [{"ref": "3", "resident_id": "wang2"}, {"ref": "4.0", "qty": 15}, {"ref": "7", "skip": True}]
    again = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(CHAIN, corrections=fixes))
    assert await _sql(engine) == before
    shown = {ln["ref"]: ln["status"] for ln in again["lines"] if ln["status"] == "new" and not ln.get("skipped")}
    assert shown == {"2.0": "new", "3.0": "new", "4.0": "new", "5.0": "new"}
    seen = {ln["ref"]: ln["sig"] for ln in preview["lines"]}
    done = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(CHAIN, corrections=fixes, seen=seen))
    assert sorted((w["resident_id"], w["product_id"], w["qty"]) for w in done["imported"]) == [
        ("kai", "pg", 2), ("meng", "pg", 5), ("wang2", "li", 3), ("zhou", "jidan", 15)]
    assert {ln["ref"]: ln.get("done") for ln in done["lines"] if ln.get("done")} == {
        "1.0": "not_written", "2.0": "written", "3.0": "written", "4.0": "written", "5.0": "written",
        "6.0": "not_written", "7.0": "skipped", "8.0": "not_written"}
    assert done["changed"] == [] and [n["name"] for n in done["not_yours"]] == ["孙玉兰"]
    assert await _wishes(engine) == [("kai", "pg", 2, "active"), ("meng", "pg", 5, "active"),
                                     ("wang2", "li", 3, "active"), ("zhou", "jidan", 15, "active")]


async def test_a_re_paste_adds_only_new_lines_renumbered_or_appended(api: Api, engine: AsyncEngine) -> None:
    """Same chain: nothing; renumbered after removing a line: nothing; appended: only the new line; two
    identical real lines stay two."""
    wid = await _window(api)
    chain = ["苹果接龙", "1. 孟秀英 5斤", "2. 周建国 3斤", "3. 周建国 3斤", "4. 林晓 2斤"]
    first = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body("\n".join(chain)))
    assert len(first["imported"]) == 4
    again = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body("\n".join(chain)))
    assert (again["imported"], again["already_imported"]) == ([], 4)
    renumbered = ["苹果接龙", "1. 周建国 3斤", "2. 周建国 3斤", "3. 林晓 2斤"]  # 孟秀英's line removed
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body("\n".join(renumbered)))
    assert {ln["status"] for ln in preview["lines"] if ln["row"] > 1} == {"already_imported"}
    longer = [*chain, "5. 周建国 3斤", "6. 王芳 12-602 1斤"]
    more = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body("\n".join(longer)))
    assert sorted((w["resident_id"], w["qty"]) for w in more["imported"]) == [("wang2", 1), ("zhou", 3)]
    assert more["already_imported"] == 4
    assert [w[:3] for w in await _wishes(engine)] == [
        ("kai", "pg", 2), ("meng", "pg", 5), ("wang2", "pg", 1), *[("zhou", "pg", 3)] * 3]


async def test_lines_imported_under_the_old_key_are_still_recognised(api: Api, engine: AsyncEngine) -> None:
    wid = await _window(api)
    from crowdfund.chain import parse_chain
    entry = parse_chain("1. 孟秀英 苹果5斤").entries[0]
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", GRID,
                 {"resident_id": "meng", "product_id": "pg", "qty": 5, "pickup_point_id": "p1"})
    async with engine.begin() as conn:  # as the import wrote it before lines had content keys
        await conn.execute(wish_lines.update().values(import_key=f"{entry.key()}#0", source="chain"))
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body("1. 孟秀英 苹果5斤"))
    assert (result["imported"], result["already_imported"]) == ([], 1)


async def test_an_app_wish_is_flagged_not_doubled_unless_accepted_as_extra(api: Api, engine: AsyncEngine) -> None:
    wid = await _window(api)
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("meng"),
                 {"product_id": "pg", "qty": 4, "pickup_point_id": "p2"})
    chain = "1. 孟秀英 苹果5斤\n2. 周建国 苹果1斤"
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain))
    line = _by_row(preview)["1.0"]
    assert line["status"] == "app_duplicate" and line["duplicate"]["qty"] == 4 and line["duplicate"]["source"] == "app"
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain))
    assert [w["resident_id"] for w in result["imported"]] == ["zhou"]
    assert await _wishes(engine) == [("meng", "pg", 4, "active"), ("zhou", "pg", 1, "active")]
    extra = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID,
                         _body(chain, corrections=[{"ref": "1.0", "accept_duplicate": True}]))
    assert [(w["resident_id"], w["qty"]) for w in extra["imported"]] == [("meng", 5)]
    again = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain))
    assert (again["imported"], again["already_imported"]) == ([], 2)


async def test_edits_change_her_wish_once(api: Api, engine: AsyncEngine) -> None:
    """add, replace and withdraw change the wish the chain brought (or her app wish); the preview shows the
    net effect; a re-paste applies none of them again."""
    wid = await _window(api)
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("zhou"),
                 {"product_id": "li", "qty": 2, "pickup_point_id": "p1"})
    chain = "\n".join(["1. 孟秀英 苹果5斤", "2. 林晓 苹果2斤", "@孟秀英 苹果 再加3斤", "林晓：不要了",
                       "周建国 梨 改为6斤"])
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain))
    effects = {ln["row"]: (ln["status"], ln["kind"], ln["effect"]) for ln in preview["lines"] if ln["row"] >= 3}
    assert effects == {
        3: ("edit", "add", {"wish_id": None, "before": 5, "after": 8, "of": "chain"}),
        4: ("edit", "withdraw", {"wish_id": None, "before": 2, "after": 0, "of": "chain"}),
        5: ("edit", "replace", {"wish_id": effects[5][2]["wish_id"], "before": 2, "after": 6, "of": "app"})}
    assert effects[5][2]["wish_id"] is not None
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain))
    assert [(e["kind"], e["applied"]) for e in result["edits"]] == [("add", True), ("withdraw", True),
                                                                   ("replace", True)]
    expected = [("kai", "pg", 2, "withdrawn"), ("meng", "pg", 8, "active"), ("zhou", "li", 6, "active")]
    assert await _wishes(engine) == expected
    assert [(w["resident_id"], w["qty"]) for w in result["edited"]] == [("zhou", 6)]
    # She sees who changed her own wish, and how.
    audit = (await api.ok("GET", "/api/me/audit", token("zhou")))["entries"]
    assert [(e["action"], e["actor_id"], e["detail"]["kind"], e["detail"]["before"], e["detail"]["after"])
            for e in audit] == [("chain_edit", "grid1", "replace", 2, 6)]
    assert [e["action"] for e in (await api.ok("GET", "/api/me/audit", token("meng")))["entries"]] == [
        "chain_edit", "chain_wish"]
    again = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain + "\n刘姐 苹果1斤"))
    assert again["already_imported"] == 5 and again["imported"] == [] and await _wishes(engine) == expected
    # An add for someone with nothing yet is a new wish; a withdrawal of nothing changes nothing.
    later = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID,
                         _body("@王芳 12-602 梨 再来2斤\n周建国 鸡蛋 不要了"))
    assert [(w["resident_id"], w["product_id"], w["qty"]) for w in later["imported"]] == [("wang2", "li", 2)]
    assert [ln["done"] for ln in later["lines"]] == ["written", "not_written"]


async def test_aliases_are_set_by_her_grid_worker_or_host_and_shared_ones_are_asked(api: Api,
                                                                                      engine: AsyncEngine) -> None:
    wid = await _window(api)
    status, body = await api.call("PATCH", "/api/communities/c1/residents/meng", GRID, {"aliases": ["开心果"]})
    assert status == 200 and body["aliases"] == ["开心果"]
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body("1. 🍀开心果🍀 苹果2斤"))
    line = preview["lines"][0]
    assert line["status"] == "unmatched_name" and [c["id"] for c in line["candidates"]] == ["kai", "meng"]
    await api.ok("PATCH", "/api/communities/c1/residents/kai", HOST, {"aliases": ["小林"]})
    listed = await api.ok("GET", "/api/communities/c1/residents?q=林晓", GRID)
    assert listed["residents"][0]["aliases"] == ["小林"]
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body("1. 🍀开心果🍀 苹果2斤"))
    assert preview["lines"][0]["resident_id"] == "meng"
    before = await _sql(engine)
    for tok, rid, body_, want in ((GRID2, "meng", {"aliases": ["x"]}, 404),  # not her grid: as unknown
                                  (GRID, "nobody", {"aliases": ["x"]}, 404),
                                  (token("meng"), "meng", {"aliases": ["x"]}, 403),
                                  (GRID, "meng", {"aliases": [" "]}, 400),
                                  (GRID, "meng", {"aliases": ["x" * 51]}, 400),
                                  (GRID, "meng", {"phone": "1"}, 400),
                                  (GRID, "meng", {}, 400)):
        status, answer = await api.call("PATCH", f"/api/communities/c1/residents/{rid}", tok, body_)
        assert status == want and answer["error"]["code"], (rid, body_, answer)
    assert await _sql(engine) == before


async def test_grid_boundaries_in_preview_and_corrections(api: Api, engine: AsyncEngine) -> None:
    wid = await _window(api)
    chain = "1. 孙玉兰 苹果1斤\n2. 王芳 苹果1斤"
    mine = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID2, _body(chain))
    assert [ln["status"] for ln in mine["lines"]] == ["new", "not_yours"]
    assert "wang" not in str(mine)
    before = await _sql(engine)
    status, _ = await api.call("POST", f"/api/wish-windows/{wid}/chain", GRID2,
                               _body(chain, corrections=[{"ref": "2", "resident_id": "wang1"}]))
    assert status == 403 and await _sql(engine) == before
    host = await api.ok("POST", f"/api/wish-windows/{wid}/chain", HOST,
                        _body(chain, corrections=[{"ref": "2", "resident_id": "wang1"}]))
    assert sorted(w["resident_id"] for w in host["imported"]) == ["sun", "wang1"]


async def test_every_bad_input_is_a_4xx_that_changes_nothing(api: Api, engine: AsyncEngine) -> None:
    wid = await _window(api)
    chain = "#接龙\n1. 孟秀英 苹果5斤"
    before = await _sql(engine)
    bad = [
        (GRID, _body(chain, corrections=[{"ref": "9.0", "skip": True}]), 400, "unknown_row"),
        (GRID, _body(chain, corrections=[{"ref": "1", "skip": True}]), 400, "nothing_to_correct"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "qty": 1}, {"ref": "2.0", "qty": 2}]), 400,
         "duplicate_correction"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "qty": 0}]), 400, "bad_request"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "qty": 10_001}]), 400, "bad_request"),
        (GRID, _body(chain, corrections=[{"ref": "x", "qty": 1}]), 400, "bad_request"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "colour": "red"}]), 400, "bad_request"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "product_id": "durian"}]), 409, "product_not_offered"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "resident_id": "nobody"}]), 403, "forbidden"),
        (GRID, _body(chain, pickup_point_id="elsewhere"), 404, "unknown_pickup_point"),
        (GRID, {"pickup_point_id": "p1"}, 400, "bad_request"),
        (token("meng"), _body(chain), 403, "forbidden"),
        (token("grid9", "grid", "c2"), _body(chain), 403, "forbidden"),
        (GRID, _body(chain, pickup_point_id="p\u0000"), 400, "bad_request"),
        (GRID, _body(chain + "\u0000"), 400, "bad_request"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "resident_id": "x\u0000"}]), 400, "bad_request"),
        (GRID, _body(chain, seen=["2.0"]), 400, "bad_request"),
        (GRID, _body(chain, corrections=[{"ref": "2.0", "qty": 2**63}]), 400, "bad_request"),
    ]
    for path in (f"/api/wish-windows/{wid}/chain/preview", f"/api/wish-windows/{wid}/chain"):
        for tok, body, want, code in bad:
            status, answer = await api.call("POST", path, tok, body)
            assert (status, answer["error"]["code"]) == (want, code), (path, body, answer)
    status, answer = await api.call("POST", "/api/wish-windows/nowindow/chain/preview", GRID, _body(chain))
    assert status == 404

    assert await _sql(engine) == before


async def test_a_line_whose_plan_changed_since_the_preview_is_not_written(api: Api, engine: AsyncEngine) -> None:
    wid = await _window(api)
    chain = "1. 孟秀英 苹果5斤\n2. 周建国 苹果1斤"
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain))
    seen = {ln["ref"]: ln["sig"] for ln in preview["lines"]}
    # Meanwhile she wishes herself: the chain line is now a duplicate of her app wish.
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("meng"),
                 {"product_id": "pg", "qty": 5, "pickup_point_id": "p1"})
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain, seen=seen))
    assert [w["resident_id"] for w in result["imported"]] == ["zhou"]
    assert result["changed"] == ["1.0"] and _by_row(result)["1.0"]["status"] == "app_duplicate"
    # A line that would now be written differently is reported, not written.
    await api.ok("PATCH", "/api/communities/c1/residents/zhou", HOST, {"room": "703"})
    chain2 = "3. 6-702 苹果2斤"
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain2))
    seen = {ln["ref"]: ln["sig"] for ln in preview["lines"]}
    assert preview["lines"][0]["status"] == "unmatched_name"
    await api.ok("PATCH", "/api/communities/c1/residents/zhou", HOST, {"room": "702"})
    # It was shown unmatched and would now be written: not written, reported.
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain2, seen=seen))
    assert result["imported"] == [] and result["changed"] == ["1.0"]
    assert _by_row(result)["1.0"]["done"] == "changed"
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain2))
    seen = {ln["ref"]: ln["sig"] for ln in preview["lines"]}
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain2, seen=seen))
    assert [(w["resident_id"], w["qty"]) for w in result["imported"]] == [("zhou", 2)]


async def test_a_question_for_what_the_catalog_lacks_is_her_free_text_wish(api: Api, engine: AsyncEngine) -> None:
    """有香油吗？要一瓶 is no order, but by a resident the line names it is her free-text wish (a demand
    signal, as in the app), once; a question by nobody known, or asking about the catalog, writes nothing."""
    wid = await _window(api)
    chain = "1. 孟秀英 苹果5斤\n2. 王芳 12-602 有香油吗？要一瓶\n@团长 榴莲有没有？要一个\n孟秀英：有苹果吗？要2斤"
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain))
    lines = _by_row(preview)
    assert (lines["2.0"]["status"], lines["2.0"]["free_text"], lines["2.0"]["qty"], lines["2.0"]["resident_id"]) == (
        "question", "香油", 1, "wang2")
    assert "resident_id" not in lines["3.0"] and "free_text" not in lines["4.0"]
    done = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID,
                        _body(chain, corrections=[{"ref": "3.0", "resident_id": "zhou"}]))
    assert sorted((w["resident_id"], w["product_id"], w["free_text"], w["qty"]) for w in done["imported"]) == [
        ("meng", "pg", None, 5), ("wang2", None, "香油", 1), ("zhou", None, "榴莲", 1)]
    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    assert sorted(f["text"] for f in demand["free_text"]) == ["榴莲", "香油"]
    again = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain))
    assert again["imported"] == [] and _by_row(again)["2.0"]["status"] == "already_imported"
    status, answer = await api.call("POST", f"/api/wish-windows/{wid}/chain/preview", GRID,
                                    _body(chain, corrections=[{"ref": "4.0", "skip": True}]))
    assert (status, answer["error"]["code"]) == (400, "nothing_to_correct")


async def test_a_one_product_chain_takes_the_product_she_names_once(api: Api, engine: AsyncEngine) -> None:
    """The header's 红富士苹果 is no catalog name: the request's product_id holds for every line naming none,
    and the header's 10斤一箱 converts its cases; a line naming its own product keeps it."""
    wid = await _window(api)
    chain = "#接龙\n红富士苹果 10斤一箱 50元\n1. 孟秀英 1箱\n2. 周建国 2箱\n3. 林晓 梨3斤"
    preview = await api.ok("POST", f"/api/wish-windows/{wid}/chain/preview", GRID, _body(chain))
    assert [(ln["status"], ln.get("from_header", False)) for ln in preview["lines"] if ln["row"] > 2] == [
        ("unmatched_product", True), ("unmatched_product", True), ("new", False)]
    done = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, _body(chain, product_id="pg"))
    assert sorted((w["resident_id"], w["product_id"], w["qty"]) for w in done["imported"]) == [
        ("kai", "li", 3), ("meng", "pg", 10), ("zhou", "pg", 20)]
