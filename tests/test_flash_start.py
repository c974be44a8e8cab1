"""At a flash sale's start every watcher's first frame is a grab, thousands at once: nothing on that
path may wait on SQL. The masked name a comment shows is read at her first comment instead (a
lookup per first frame queued 2,000 first grabs behind SQL for up to 5 s, docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import event

from infra.settings import Settings
from linli.app import create_app
from stream.context import LIVE
from tests.live import SECRET, Api, Client, live_with_item, neighbours, token

HOST = token("host1", "host")


class Statements:
    """The SQL statements the web process runs, counted as they go to the database."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)


@pytest.fixture
async def flash(redis, engine, tmp_path: Path, redis_url: str,
                database_url: str) -> AsyncIterator[tuple[Api, str, str, Statements]]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    app = create_app(settings)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        api = Api(http, str(server.make_url("")).rstrip("/"))
        await neighbours(api, token("grid1", "grid"))  # wang is 王玉香
        sid, iid = await live_with_item(api, HOST, {"title": "红薯", "price_cents": 350, "stock": 50})
        await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
        statements = Statements()
        sync_engine = app[LIVE].engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", statements)
        try:
            yield api, sid, iid, statements
        finally:
            event.remove(sync_engine, "before_cursor_execute", statements)


async def test_a_watchers_first_grab_runs_no_sql_and_her_first_comment_shows_her_masked_name(
        flash: tuple[Api, str, str, Statements]) -> None:
    api, sid, iid, statements = flash
    wang = await Client.join(api.base.replace("http", "ws"), sid, token("wang"))
    try:
        before = len(statements.seen)
        await wang.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "r1"})
        result = await wang.wait_for(lambda e: e["type"] == "grab_result")
        assert result["ok"] is True
        assert statements.seen[before:] == []
        await wang.send({"type": "comment", "text": "还有吗"})
        said = await wang.wait_for(lambda e: e["type"] == "comment")
        assert said["name"] == "王*香"
        assert len(statements.seen) > before  # her name came from SQL, once she wrote
    finally:
        await wang.close()
