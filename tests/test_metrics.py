"""/metrics: real web processes sharing a metrics folder, a real outbox worker serving its own, real
websocket grabs, a real slow viewer; counters move by exactly what happened, the door holds, and the
sample Grafana dashboard asks only for metrics that are really exported."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from infra.metrics import GRAB_RESULTS
from infra.redis_server import free_port
from infra.resources import redis_client
from stream.events import Publisher
from stream.protocol import CommentEvent
from stream.scripts import Scripts
from tests.live import SECRET, Api, Client, bearer, token
from tests.servers import ServerProcess, linli_env, shared_stores, spawn_linli, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
DASHBOARD = Path(__file__).parent.parent / "docs" / "grafana" / "linli-dashboard.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Hosts:
    a: ServerProcess  # web, metrics open to this machine
    b: ServerProcess  # web, same metrics folder, LINLI_METRICS_ALLOW excludes this machine
    worker_metrics: str
    http: aiohttp.ClientSession
    redis_url: str


@pytest.fixture(scope="module")
async def hosts(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hosts]:
    tmp = tmp_path_factory.mktemp("metrics")
    folder = tmp / "prometheus"
    folder.mkdir()
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        worker_port = free_port()
        procs = [spawn_linli(["worker"], {**env, "LINLI_METRICS_PORT": str(worker_port)}, tmp / "worker.log")]
        http = aiohttp.ClientSession()
        try:
            shared = {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
            procs += await asyncio.gather(
                start_linli(["web"], shared, tmp / "a.log"),
                start_linli(["web"], {**shared, "LINLI_METRICS_ALLOW": "10.0.0.0/8"}, tmp / "b.log"))
            status, _ = await Api(http, procs[1].url).call("POST", "/api/communities", OPERATOR,
                                                          {"id": "c1", "name": "幸福里"})
            assert status == 201
            worker_metrics = f"http://127.0.0.1:{worker_port}"
            await _serving(http, worker_metrics)
            yield Hosts(procs[1], procs[2], worker_metrics, http, redis_url)
        finally:
            await http.close()
            for p in procs:
                p.stop()


async def _serving(http: aiohttp.ClientSession, base: str, within_s: float = 60) -> None:
    """Wait for the worker's /metrics: nothing waits for the worker to start (it has no /healthz), and on a
    busy machine it may still be starting when both web processes already answer."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            await scrape(http, base)
            return
        except aiohttp.ClientConnectionError:
            assert asyncio.get_running_loop().time() < deadline, f"the worker's metrics never answered at {base}"
            await asyncio.sleep(0.1)


async def scrape(http: aiohttp.ClientSession, base: str, tok: str | None = OPERATOR,
                 headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with http.get(base + "/metrics", headers={**(bearer(tok) if tok else {}), **(headers or {})}) as resp:
        return resp.status, await resp.text()


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def read(http: aiohttp.ClientSession, base: str) -> Samples:
    status, text = await scrape(http, base)
    assert status == 200, text
    return samples(text)


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def until(http: aiohttp.ClientSession, base: str, name: str, wanted: float, within_s: float = 20,
                **labels: str) -> Samples:
    """Scrape until the sample reaches ``wanted``; the last scrape."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await read(http, base)
        if value(found, name, **labels) >= wanted or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_grabs_refusals_viewers_and_the_drain_are_counted_exactly(hosts: Hosts) -> None:
    """Over two web processes sharing a metrics folder: grabs by result (ok, limit, sold out) and their
    latency count, viewers on both, the worker's drain; each moves by exactly what happened."""
    api = Api(hosts.http, hosts.a.url)
    s = await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
    sid = s["id"]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                        {"title": "红薯", "price_cents": 350, "stock": 2, "per_user_limit": 1, "unit": "斤"}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
    before, worker_before = await read(hosts.http, hosts.a.url), await read(hosts.http, hosts.worker_metrics)
    ws_a, ws_b = hosts.a.url.replace("http", "ws"), hosts.b.url.replace("http", "ws")
    wang, zhao = await Client.join(ws_a, sid, token("wang")), await Client.join(ws_a, sid, token("zhao"))
    li = await Client.join(ws_b, sid, token("li"))
    assert value(await read(hosts.http, hosts.a.url), "linli_viewers") == value(before, "linli_viewers") + 3
    await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    for client, rid in ((wang, "g1"), (wang, "g2"), (li, "g3"), (zhao, "g4")):
        await client.wait_for(lambda e: e["type"] == "flash_started")
        await client.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": rid})
        await client.wait_for(lambda e, rid=rid: e["type"] == "grab_result" and e["request_id"] == rid)
    after = await read(hosts.http, hosts.a.url)
    moved = {r: value(after, "linli_grabs_total", result=r) - value(before, "linli_grabs_total", result=r)
             for r in GRAB_RESULTS}
    assert moved == {**dict.fromkeys(GRAB_RESULTS, 0.0), "ok": 2.0, "limit": 1.0, "sold_out": 1.0}
    assert value(after, "linli_grab_seconds_count") - value(before, "linli_grab_seconds_count") == 4
    assert value(after, "linli_grab_seconds_bucket", le="+Inf") == value(after, "linli_grab_seconds_count")

    drained = await until(hosts.http, hosts.worker_metrics, "linli_outbox_written_entries_total",
                          value(worker_before, "linli_outbox_written_entries_total") + 2)
    assert value(drained, "linli_outbox_written_entries_total") - value(
        worker_before, "linli_outbox_written_entries_total") == 2
    # The backlog gauges are measured once a second: nothing is left behind.
    await asyncio.sleep(1.2)
    settled = await read(hosts.http, hosts.worker_metrics)
    assert value(settled, "linli_outbox_pending_entries") == 0 and value(settled, "linli_outbox_lag_seconds") == 0

    for client in (wang, zhao, li):
        await client.close()
    deadline = asyncio.get_running_loop().time() + 10
    while value(await read(hosts.http, hosts.a.url), "linli_viewers") != value(before, "linli_viewers"):
        assert asyncio.get_running_loop().time() < deadline, "the viewers gauge did not come back down"
        await asyncio.sleep(0.1)


async def test_a_slow_viewer_is_counted_as_cut_and_fanout_delays_are_observed(hosts: Hosts) -> None:
    """A viewer that stops reading while a burst of large events goes out is cut once (slow cuts +1);
    every event handed to a room's viewers is observed in the fan-out delay histogram."""
    api = Api(hosts.http, hosts.a.url)
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "夜场", "community_id": "c1"}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
    before = await read(hosts.http, hosts.a.url)
    reader = await Client.join(hosts.b.url.replace("http", "ws"), sid, token("li"))
    # A tiny receive buffer and a one-frame queue: once the snapshot is read, nothing more is.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", int(hosts.a.url.rsplit(":", 1)[1])))
    slow = await connect(f"{hosts.a.url.replace('http', 'ws')}/ws/sessions/{sid}", sock=sock, max_queue=1,
                         additional_headers=bearer(token("slow")), compression=None)
    assert json.loads(await slow.recv())["type"] == "snapshot"
    redis = redis_client(hosts.redis_url)
    try:
        publisher, burst = Publisher(redis, Scripts()), 2000
        for _ in range(burst):
            await publisher.publish(sid, CommentEvent(text="长" * 2700, user_id="host1", role="host"))
        await reader.wait_for(lambda e: e["type"] == "comment" and len(reader.of_type("comment")) == burst, 30)
        cut = await until(hosts.http, hosts.a.url, "linli_slow_viewer_cuts_total",
                          value(before, "linli_slow_viewer_cuts_total") + 1)
        assert value(cut, "linli_slow_viewer_cuts_total") - value(before, "linli_slow_viewer_cuts_total") == 1
        # Process b handed every event to its reader (a the first ones to the slow viewer, before the cut).
        assert value(cut, "linli_fanout_delay_seconds_count") - value(before, "linli_fanout_delay_seconds_count") \
            >= burst
        assert value(cut, "linli_fanout_delay_seconds_sum") >= value(before, "linli_fanout_delay_seconds_sum")
    finally:
        await redis.aclose()
        if slow.transport is not None:
            slow.transport.abort()
        await reader.close()


async def test_the_door_takes_an_operator_or_an_allowed_address_only(hosts: Hosts) -> None:
    """Operator token 200 anywhere; no token 200 only from LINLI_METRICS_ALLOW and never through a proxy;
    a resident's token 403; a bad token 401; the worker's port has the same door."""
    http = hosts.http
    for base in (hosts.a.url, hosts.b.url, hosts.worker_metrics):
        assert (await scrape(http, base))[0] == 200
        assert (await scrape(http, base, token("wang")))[0] == 403
        assert (await scrape(http, base, token("c1-admin", "admin")))[0] == 403
        assert (await scrape(http, base, "not-a-token"))[0] == 401
        assert (await scrape(http, base, None, {"X-Forwarded-For": "127.0.0.1"}))[0] == 401
    assert (await scrape(http, hosts.a.url, None))[0] == 200  # loopback is allowed on a
    assert (await scrape(http, hosts.b.url, None))[0] == 401  # and not on b (LINLI_METRICS_ALLOW=10.0.0.0/8)
    status, text = await scrape(http, hosts.a.url)
    assert status == 200 and "# TYPE linli_grabs_total counter" in text


async def test_the_dashboard_asks_only_for_exported_metrics(hosts: Hosts) -> None:
    """docs/grafana/linli-dashboard.json: valid JSON with a Prometheus datasource variable, a panel for each
    metric, and every expression names only metrics /metrics exports."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = board["templating"]["list"]
    assert any(v["type"] == "datasource" and v["query"] == "prometheus" for v in variables)
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs and all(t["datasource"]["uid"] == "${datasource}" for p in board["panels"] for t in p["targets"])
    exported = {name for name, _ in await read(hosts.http, hosts.a.url)}
    named = {n for e in exprs for n in re.findall(r"\blinli_[a-z_]+", e)}
    assert named <= exported, named - exported
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in named}
    assert families == {re.sub(r"_(total|bucket|count|sum|created)$", "", n)
                        for n in exported if n.startswith("linli_")}


def test_prepare_multiprocess_dir_empties_the_folder_and_switches_a_process_that_imported_the_library(
        tmp_path: Path) -> None:
    """In a fresh interpreter that imported prometheus-client first (as a parent that imported linli.app has):
    the folder is emptied of a previous run's files, named in the environment, and later metrics go to files there."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"stale")
    script = (
        "import json, os, prometheus_client\n"
        "from pathlib import Path\n"
        "from infra import metrics\n"
        f"path = metrics.prepare_multiprocess_dir(Path({str(folder)!r}))\n"
        "assert os.environ['PROMETHEUS_MULTIPROC_DIR'] == str(path)\n"
        "metrics.grab_answered('ok')\n"
        "text = metrics.exposition()[0].decode()\n"
        "assert 'linli_grabs_total{result=\"ok\"} 1.0' in text, text\n"
        "print(json.dumps(sorted(os.listdir(path))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout.strip().splitlines()[-1])
    assert "counter_1.db" not in files and any(f.startswith("counter_") for f in files), files


async def test_store_errors_of_scheduler_jobs_are_counted_by_store_and_place(tmp_path: Path) -> None:
    """A scheduler job whose Redis does not answer counts once in linli_redis_errors_total{where="scheduler"},
    and not as an SQL error."""
    from apscheduler.events import EVENT_JOB_ERROR

    from infra.db import create_engine
    from infra.metrics import exposition
    from infra.resources import Resources
    from infra.settings import Settings
    from linli.scheduler import build_scheduler

    def counts() -> tuple[float, float]:
        found = samples(exposition()[0].decode())
        return (value(found, "linli_redis_errors_total", where="scheduler"),
                value(found, "linli_sql_errors_total", where="scheduler"))

    nobody = redis_client(f"redis://127.0.0.1:{free_port()}/0")  # a port nothing listens on
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    res = Resources(settings=Settings(data_dir=tmp_path), secret=SECRET, redis=nobody, engine=engine,
                    embedded_redis=None)
    before = counts()
    scheduler = build_scheduler(res)
    scheduler.remove_all_jobs()  # linli's listener stays; its jobs would fail on this empty database too
    failed = asyncio.Event()
    scheduler.add_listener(lambda event: failed.set(), EVENT_JOB_ERROR)  # called after linli's own listener

    async def ping_nobody() -> None:
        await nobody.ping()

    scheduler.add_job(ping_nobody, id="ping-nobody")
    scheduler.start()
    try:
        await asyncio.wait_for(failed.wait(), 10)
    finally:
        scheduler.shutdown(wait=False)
        await nobody.aclose()
        await engine.dispose()
    assert counts() == (before[0] + 1, before[1])
