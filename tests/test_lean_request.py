"""What a live room's idle viewer keeps: the guards read the URL without leaving a parse on the request,
and a join's name lookup leaves no reference cycles for a rare full collection to find.

The memory figures themselves are benchmarks (docs/benchmarks.md); these hold the behaviour the cuts
must not change, and the cuts that can be checked without a stopwatch."""

from __future__ import annotations

import gc
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer, make_mocked_request
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from community.api import display_names
from infra.lean_request import has_nul, query_has, query_value
from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, token

# Pieces of query strings as clients write them, escapes, separators and stray characters included.
PIECES = st.sampled_from(["ticket", "since", "token", "a", "=", "&", "+", "%20", "%00", "%3D", "%26", "%E7%BA%A2",
                          "%zz", "%", "x", "7", "", "==", "&&", "红"])
QUERY = st.lists(PIECES, max_size=12).map("".join)


def _request(target: str) -> aiohttp.web.Request:
    return make_mocked_request("GET", target)


@given(QUERY, st.sampled_from(["ticket", "since", "token", "a", "missing"]))
def test_a_query_value_is_what_aiohttp_parses(query: str, name: str) -> None:
    """Read off the raw target, a value is the one aiohttp's own parse gives, for any query, and so is
    whether a name is there at all."""
    target = "/ws/sessions/s1" + ("?" + query if query else "")
    parsed = URL.build(path="/ws/sessions/s1", query_string=query, encoded=True).query
    assert query_value(_request(target), name) == parsed.get(name)
    assert query_has(_request(target), name, "since") == (name in parsed or "since" in parsed)


@given(QUERY, st.sampled_from(["/ws/sessions/s1", "/api/x%00y", "/api/%2500", "/a%00"]))
def test_a_nul_is_found_where_the_decoded_url_has_one(query: str, path: str) -> None:
    url = URL.build(path=path, query_string=query, encoded=True)
    decoded = url.path + "".join(k + v for k, v in url.query.items())
    assert has_nul(_request(path + ("?" + query if query else ""))) == ("\x00" in decoded)


async def test_a_name_lookup_leaves_no_reference_cycles(redis, engine, tmp_path: Path, redis_url: str,
                                                         database_url: str) -> None:
    """The join storm's lookup: a statement built per call left its bound parameters in cycles (10
    objects, ~1.6 KB a call) that stayed until a full collection, seen as ~1.5 KB per idle viewer."""
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        api = Api(http, str(server.make_url("")).rstrip("/"))
        await api.ok("POST", "/api/communities", token("root", "operator", None), {"id": "c1", "name": "幸福里"})
        await api.ok("POST", "/api/communities/c1/residents", token("host1", "host"),
                     {"id": "wang", "name": "王玉香", "phone": "13800000000", "building": "3号楼", "room": "1205"})
    assert await display_names(engine, ["wang", "nobody"]) == {"wang": "王*香"}  # warm: the statement compiled
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(20):
            assert await display_names(engine, ["wang", "nobody"]) == {"wang": "王*香"}
        gc.collect()
        cycles = [type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("sqlalchemy")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cycles == []
