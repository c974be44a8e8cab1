"""The residents list a grid worker's desk searches: their own grid only, by name, place or pinyin initials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
GRID1, GRID2, HOST = token("grid1", "grid"), token("grid2", "grid"), token("host1", "host")


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        client = Api(http, str(server.make_url("")).rstrip("/"))
        await client.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
        for grid, rid, name, building, room in (
                (GRID1, "wang", "王玉香", "3号楼", "1205"), (GRID1, "li", "李建国", "3号楼", "802"),
                (GRID1, "zhao", "赵秀英", "5号楼", "301"), (GRID2, "sun", "孙玉兰", "7号楼", "101")):
            await client.ok("POST", "/api/communities/c1/residents", grid,
                            {"id": rid, "name": name, "phone": "13800000000", "building": building, "room": room})
        yield client


async def _ids(api: Api, tok: str, q: str = "") -> list[str]:
    data = await api.ok("GET", "/api/communities/c1/residents" + (f"?q={q}" if q else ""), tok)
    return [r["id"] for r in data["residents"]]


async def test_a_grid_worker_sees_her_own_grid_and_a_host_the_whole_community(api: Api) -> None:
    """grid1 lists her three residents by building and room; grid2 hers; the host all four; never a phone."""
    assert await _ids(api, GRID1) == ["li", "wang", "zhao"]
    assert await _ids(api, GRID2) == ["sun"]
    assert sorted(await _ids(api, HOST)) == ["li", "sun", "wang", "zhao"]
    data = await api.ok("GET", "/api/communities/c1/residents", GRID1)
    assert data["residents"][1] == {"id": "wang", "community_id": "c1", "name": "王玉香", "building": "3号楼",
                                    "room": "1205", "grid_worker_id": "grid1", "aliases": [], "initials": "wyx"}
    status, body = await api.call("GET", "/api/communities/c1/residents", token("wang"))
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, _ = await api.call("GET", "/api/communities/c2/residents", GRID1)
    assert status == 403


async def test_residents_are_found_by_name_building_room_or_pinyin_initials(api: Api) -> None:
    """王, 3号楼, 1205, 3-1205 and wyx each find who a grid worker means; a resident of another grid is never found."""
    assert await _ids(api, GRID1, "王") == ["wang"]
    assert await _ids(api, GRID1, "3号楼") == ["li", "wang"]
    assert await _ids(api, GRID1, "1205") == ["wang"]
    assert await _ids(api, GRID1, "3-1205") == ["wang"]
    assert await _ids(api, GRID1, "WYX") == ["wang"]
    assert await _ids(api, GRID1, "zx") == ["zhao"]
    assert await _ids(api, GRID1, "孙") == []
    assert await _ids(api, HOST, "syl") == ["sun"]
