"""schemathesis against a real `linli serve`, from its own OpenAPI document, with a token of each role:
no input answers a 5xx, every answer matches the document, and input the document refuses is refused.

The run is bounded (examples per operation, below) so it takes a minute or two; the seed it prints
replays a failure with ``--seed``. Ids of a seeded community, session, window, wish, bag, packet and
supplier order stand in for most path parameters, so requests reach past the 404s.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.live import SECRET, Api, token
from tests.servers import linli_env, start_linli

pytest.importorskip("schemathesis")

# Per operation and role: a run of all roles stays under two minutes on two shared cores.
MAX_EXAMPLES = int(os.environ.get("LINLI_FUZZ_HTTP_EXAMPLES", "15"))
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,negative_data_rejection"
DAY = 24 * 3600 * 1000
ROLES = {
    "operator": token("root", "operator", None),
    "admin": token("boss", "admin"),
    "host": token("host1", "host"),
    "grid": token("grid1", "grid"),
    "resident": token("wang"),
    "supplier": token("farm1", "supplier", None),
}
PRODUCT = {"id": "mi", "supplier_id": "farm1", "name": "小米", "unit": "斤", "case_size": 5, "moq": 5,
           "capacity": 100, "tiers": [{"min_qty": 0, "price_cents": 800}]}


async def _seed(api: Api) -> dict[str, list[str]]:
    """One of everything the routes address by id; returns the ids by path parameter name."""
    admin, host, grid = ROLES["operator"], ROLES["host"], ROLES["grid"]
    await api.ok("POST", "/api/communities", admin, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities/c1/pickup-points", host, {"id": "p1", "name": "药房"})
    await api.ok("POST", "/api/communities/c1/residents", grid, {"id": "wang", "name": "王芳"})
    await api.ok("POST", "/api/suppliers", admin, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    await api.ok("POST", "/api/products", admin, PRODUCT)
    now = int(time.time() * 1000)
    sessions, windows, lines = [], [], []
    for title in ("周六直播", "周日直播"):
        sid = (await api.ok("POST", "/api/sessions", host, {"title": title, "community_id": "c1"}))["id"]
        wid = (await api.ok("POST", "/api/wish-windows", host,
                            {"session_id": sid, "live_at": now + 2 * DAY, "cutoff_at": now + DAY}))["id"]
        line = await api.ok("POST", f"/api/wish-windows/{wid}/wishes", ROLES["resident"],
                            {"product_id": "mi", "qty": 10, "pickup_point_id": "p1"})
        sessions.append(sid)
        windows.append(wid)
        lines.append(str(line["id"]))
    await api.ok("POST", f"/api/wish-windows/{windows[1]}/close", host)
    orders = [o["id"] for o in (await api.ok("GET", "/api/supplier/orders", ROLES["supplier"]))["orders"]]
    sid = sessions[0]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", host,
                        {"title": "红薯", "price_cents": 350, "stock": 50}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", host)
    bag = await api.ok("POST", f"/api/sessions/{sid}/lucky-bags", host,
                       {"title": "福袋", "winners": 1, "countdown_s": 3600, "prize_points": 10})
    packet = await api.ok("POST", f"/api/sessions/{sid}/red-packets", host, {"total_points": 100, "shares": 5})
    return {"cid": ["c1"], "sid": sessions, "wid": windows, "lid": lines, "iid": [iid], "bid": [bag["id"]],
            "pid": ["mi", packet["id"]], "sup": ["farm1"], "oid": orders, "action": ["confirm", "ship"]}


# Beside what schemathesis draws from the document, values issue 12 found breaking requests: numbers
# past 64 bits or a SQL INTEGER, times past a datetime, NUL (PostgreSQL refuses it), strings past
# their columns, and ids that reach another Redis key. Each is drawn for a field or parameter of its
# kind now and then, so requests that pass the document's own rules still meet them.
HOSTILE_NUMBERS = [10**20, -(10**15), 2**31, 2**63, 4102444800001, -1]
HOSTILE_TEXT = ["a\u0000b", "x" * 301, "x:entrants", "{s:x}", " ", "javascript:alert(1)"]
NUMBER_FIELDS = ["live_at", "cutoff_at", "hold_release_at", "case_size", "moq", "capacity", "qty", "stock",
                 "per_user_limit", "price_cents", "lead_time_hours", "total_points", "shares", "winners",
                 "countdown_s", "duration_s", "min_watch_s", "prize_points", "open_days_before"]
TEXT_FIELDS = ["title", "name", "address", "phone", "building", "room", "product_id", "pickup_point_id",
               "session_id", "community_id", "prize_item_id", "free_text", "text", "passphrase", "stream_url",
               "image_url", "resident_id", "grid_worker_id", "unit"]


def _hostile_ids(name: str, values: list[str]) -> list[str]:
    """A path parameter's seeded ids, each also with a key suffix, and numbers too big for a row id."""
    crafted = [f"{v}:{suffix}" for v in values for suffix in ("entrants", "takers", "shares")]
    return [*values, *crafted[:3], "\x00", *(["99999999999999999999", "2147483648", "-1"] if name == "lid" else [])]


def _config(ids: dict[str, list[str]]) -> str:
    """schemathesis.toml: seeded ids (and hostile ones) stand in for path parameters, hostile values for
    body fields now and then; 413 is a fine refusal too."""
    lines = ['[checks.negative_data_rejection]',
             'expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]', '', '[parameters]']
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.8 }}' for name in ids]
    lines += [f'"body.{name}" = {{ dictionary = "numbers", probability = 0.2 }}' for name in NUMBER_FIELDS]
    lines += [f'"body.{name}" = {{ dictionary = "texts", probability = 0.2 }}' for name in TEXT_FIELDS]
    lines += ['', '[dictionaries]', f'numbers = {{ values = {json.dumps(HOSTILE_NUMBERS)} }}',
              f'texts = {{ values = {json.dumps(HOSTILE_TEXT)} }}']
    lines += [f'{name} = {{ values = {json.dumps(_hostile_ids(name, values))} }}' for name, values in ids.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
async def server(redis, engine, tmp_path: Path, redis_url: str, database_url: str):  # type: ignore[no-untyped-def]
    env = linli_env(tmp_path / "var", REDIS_URL=redis_url, DATABASE_URL=database_url, LINLI_SECRET=SECRET)
    proc = await start_linli(["serve"], env, tmp_path / "serve.log")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.timeout(300)
async def test_no_input_breaks_the_api_for_any_role(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every operation, fuzzed with each role's token: no 5xx, answers as documented, bad input refused."""
    async with aiohttp.ClientSession() as http:
        ids = await _seed(Api(http, server.url))
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(ids))
    failed = []
    for role, tok in ROLES.items():
        started = time.monotonic()
        cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{server.url}/api/openapi.json", "-H", f"Authorization: Bearer {tok}", "--checks", CHECKS,
               "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing",
               "--generation-database", "none", "--workers", "2", "--no-color", "--warnings", "off",
               "--report-dir", str(tmp_path / f"report-{role}")]
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out = (await asyncio.wait_for(proc.communicate(), 240))[0].decode(errors="replace")
        summary = [line for line in out.splitlines() if "generated" in line or line.startswith("Seed")]
        print(f"{role}: exit {proc.returncode} in {time.monotonic() - started:.1f}s; {'; '.join(summary)}")
        if proc.returncode != 0:
            failed.append(f"--- {role}\n{out[-20000:]}")
    log = server.output()
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 500):][:4000]
    assert not failed, "\n".join(failed)
