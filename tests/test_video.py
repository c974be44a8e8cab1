"""The live video: the RTMP ingest linli supervises (nginx's RTMP module), the HLS it serves, the live
room playing it in Chromium. A real `linli serve`, a real nginx, ffmpeg as the host's OBS.

Debian's chromium plays H.264 (MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"') is true),
so the stream is what OBS sends: H.264 in FLV over RTMP, remuxed to MPEG-TS segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import expect

from infra.clock_stream import FfmpegMissing, argv, find_ffmpeg
from infra.media_server import IngestUnavailable, MediaIngest, find_nginx
from infra.redis_server import free_port, process_running
from tests.browser import PHONE, NewPage
from tests.live import SECRET, Api, token
from tests.servers import ServerProcess, linli_env, start_linli

HOST, RESIDENT = token("host1", "host"), token("wang")


def _missing() -> str | None:
    try:
        find_nginx()
        find_ffmpeg()
    except (IngestUnavailable, FfmpegMissing) as exc:
        return str(exc)
    return None


# CI installs both (.ci/run) and must run these; elsewhere they say what is missing instead of failing.
if os.environ.get("CI") and _missing():
    raise RuntimeError(f"CI lacks the video tools: {_missing()}")
pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"video tests need nginx-rtmp and ffmpeg: {_missing()}")


class Rig:
    def __init__(self, server: ServerProcess, rtmp_port: int, data: Path) -> None:
        self.server, self.rtmp_port, self.data = server, rtmp_port, data

    def rtmp(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("video")
    port = free_port()
    # The server keeps its sessions in the SQL database the environment names (SQLite otherwise).
    sql = {"DATABASE_URL": os.environ["DATABASE_URL"]} if os.environ.get("DATABASE_URL") else {}
    server = await start_linli(["serve"], linli_env(tmp / "var", LINLI_SECRET=SECRET, LINLI_RTMP_PORT=str(port), **sql),
                               tmp / "serve.log")
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        operator = token("root", "operator", None)
        status, _ = await api.call("POST", "/api/communities", operator, {"id": "c1", "name": "幸福里"})
        assert status in (201, 409)
        await api.call("POST", "/api/communities/c1/residents", HOST, {"id": "wang", "name": "王玉香"})
    yield Rig(server, port, tmp / "var")
    assert server.stop() == 0
    assert "RTMP ingest" in server.output()


async def new_session(api: Api, title: str = "周六助农直播") -> str:
    return str((await api.ok("POST", "/api/sessions", HOST, {"title": title, "community_id": "c1"}))["id"])


async def push(url: str, seconds: float) -> tuple[int, str]:
    """ffmpeg publishing the clock test pattern to ``url`` for ``seconds``, as OBS would; (exit code, stderr)."""
    cmd = argv(find_ffmpeg(), url)
    proc = await asyncio.create_subprocess_exec(*cmd[:1], "-t", str(seconds), *cmd[1:],
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, err.decode(errors="replace")


async def wait_playlist(http: aiohttp.ClientSession, url: str, within_s: float = 20) -> str:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        async with http.get(url) as resp:
            if resp.status == 200:
                return await resp.text()
            assert resp.status == 204, resp.status
        assert asyncio.get_running_loop().time() < deadline, "no playlist came"
        await asyncio.sleep(0.3)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_the_host_gets_an_rtmp_address_and_a_stream_key_and_nobody_else_does(rig: Rig) -> None:
    """GET /api/sessions/{sid}/ingest: the host sees rtmp://<host>:<port>/live and a per-session key; a resident is
    refused; a session without a platform URL plays its own ingest's playlist."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        got = await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST)
        assert got["rtmp_url"] == f"rtmp://127.0.0.1:{rig.rtmp_port}/live" and got["ready"] is True
        assert got["stream_key"].startswith(sid + "-") and len(got["stream_key"]) == len(sid) + 33
        assert got["stream_url"] == got["playback_url"] and got["playback_url"].startswith(f"/media/{sid}/")
        assert got["stream_key"] not in got["playback_url"] and got["publishing"] is False
        assert (await api.ok("GET", f"/api/sessions/{sid}", RESIDENT))["stream_url"] == got["playback_url"]
        status, body = await api.call("GET", f"/api/sessions/{sid}/ingest", RESIDENT)
        assert status == 403 and body["error"]["code"] == "forbidden"
        other = await api.ok("POST", "/api/sessions", HOST, {"title": "平台直播", "community_id": "c1",
                                                              "stream_url": "https://live.example.cn/a.m3u8"})
        assert other["stream_url"] == "https://live.example.cn/a.m3u8"
        # Until the host pushes, the playlist says "nothing yet" without an error; a wrong path is 404.
        async with http.get(rig.server.url + got["playback_url"]) as resp:
            assert resp.status == 204
        async with http.get(rig.server.url + f"/media/{sid}/{'0' * 32}/index.m3u8") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "no_stream"


@pytest.mark.timeout(120)
async def test_a_push_with_the_key_becomes_a_playlist_that_members_play(rig: Rig) -> None:
    """ffmpeg publishes with the session's key; the ingest cuts 1 s segments that linli serves at the playback path."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        got = await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST)
        pushing = asyncio.create_task(push(rig.rtmp(got["stream_key"]), 8))
        playlist = await wait_playlist(http, rig.server.url + got["playback_url"])
        assert "#EXTM3U" in playlist and "#EXT-X-TARGETDURATION:1" in playlist
        segment = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        async with http.get(rig.server.url + got["playback_url"].replace("index.m3u8", segment)) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp2t"
            assert (await resp.read())[:1] == b"\x47"  # an MPEG-TS packet
        assert (await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST))["publishing"] is True
        code, err = await pushing
        assert code == 0, err
        for bad in ("../../x.ts", "index.m3u8.tmp", "x.ts"):
            async with http.get(rig.server.url + got["playback_url"].replace("index.m3u8", bad)) as resp:
                assert resp.status == 404


@pytest.mark.timeout(120)
async def test_a_wrong_old_or_ended_stream_key_is_refused(rig: Rig) -> None:
    """An unknown key, a key replaced by a new one and the key of an ended session are each refused by the ingest,
    and nothing of theirs is written."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        old = (await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST))["stream_key"]
        new = (await api.ok("POST", f"/api/sessions/{sid}/ingest/key", HOST))["stream_key"]
        assert new != old and new.startswith(sid + "-")
        ended = await new_session(api, "已结束的直播")
        ended_key = (await api.ok("GET", f"/api/sessions/{ended}/ingest", HOST))["stream_key"]
        await api.ok("POST", f"/api/sessions/{ended}/end", HOST)
        for key in (f"{sid}-{'0' * 32}", old, ended_key, "nonsense"):
            code, _ = await push(rig.rtmp(key), 3)
            assert code != 0, f"the ingest took {key}"
            assert not (rig.data / "media" / "hls" / key).exists()
        # A resident's token is no stream key either, and outsiders cannot ask the ingest's question.
        code, _ = await push(rig.rtmp(RESIDENT), 3)
        assert code != 0
        async with http.post(rig.server.url + "/api/ingest/publish", data={"name": old}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "stream_key_refused"
        async with http.post(rig.server.url + "/api/ingest/publish", data={"name": new}) as resp:
            assert resp.status == 200 and (await resp.json()) == {"session_id": sid}  # the current key is let in
        assert "RTMP publish refused" in rig.server.output()


@pytest.mark.timeout(120)
async def test_the_supervisor_restarts_a_dead_ingest_stops_an_orphan_and_stops_cleanly(rig: Rig,
                                                                                       tmp_path: Path) -> None:
    """nginx killed: the watcher starts it again on the same port; a supervisor that died leaves an nginx that
    the next start stops; stop leaves no process and a closed port."""
    port = free_port()
    callback = f"{rig.server.url}/api/ingest/publish"
    ingest = MediaIngest(tmp_path, callback_url=callback, port=port)
    await ingest.start()
    assert ingest.process is not None
    first = ingest.process.pid
    ingest.kill()
    for _ in range(100):
        if ingest.restarts == 1 and port_open(port):
            break
        await asyncio.sleep(0.1)
    assert ingest.restarts == 1 and ingest.process.pid != first and port_open(port)
    # A push through the restarted ingest is checked and taken.
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        key = (await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST))["stream_key"]
    code, err = await push(f"rtmp://127.0.0.1:{port}/live/{key}", 3)
    assert code == 0, err
    assert (tmp_path / "media" / "hls" / key / "index.m3u8").exists()

    # The supervising process dies without stopping nginx: the next one finds and stops that orphan.
    orphan = ingest.process.pid
    ingest._stopping.set()
    if ingest._watcher:
        ingest._watcher.cancel()
    ingest._release_lock()
    again = MediaIngest(tmp_path, callback_url=callback, port=port)
    await again.start()
    assert again.process is not None and again.process.pid != orphan
    await ingest.process.wait()  # the orphan is gone (and reaped: this test started it)
    await again.stop()
    assert not port_open(port) and not again.pid_file.exists()


def test_without_nginx_or_ffmpeg_linli_says_what_to_install(tmp_path: Path) -> None:
    """A machine without the tools gets a sentence that names the Debian packages, not a traceback."""
    with pytest.raises(IngestUnavailable, match="apt-get install nginx-core libnginx-mod-rtmp"):
        find_nginx(path=str(tmp_path))
    with pytest.raises(FfmpegMissing, match="apt-get install ffmpeg"):
        find_ffmpeg(path=str(tmp_path))


@pytest.mark.timeout(120)
async def test_the_live_room_plays_the_hosts_stream_in_chromium(rig: Rig, new_page: NewPage) -> None:
    """A resident's live room on a phone waits for the host, then plays the pushed stream (currentTime advances,
    the cover is gone, no error) and stops the video when the live ends."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
        key = (await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST))["stream_key"]
        page = await new_page(viewport=PHONE, locale="zh-CN")
        await page.goto(f"{rig.server.url}/live/{sid}?token={RESIDENT}")
        await expect(page.locator("#cover")).to_have_text("主播还没开始推流，请稍等…")
        pushing = asyncio.create_task(push(rig.rtmp(key), 30))
        await expect(page.locator("#video")).to_be_visible(timeout=30_000)
        await expect(page.locator("#cover")).to_be_hidden(timeout=30_000)
        first = await page.evaluate("document.getElementById('video').currentTime")
        await asyncio.sleep(2)
        later = await page.evaluate("document.getElementById('video').currentTime")
        assert later > first + 1, (first, later)
        assert await page.evaluate("document.getElementById('video').videoWidth") == 640
        await expect(page.locator("#sound")).to_be_visible()
        await api.ok("POST", f"/api/sessions/{sid}/end", HOST)
        await expect(page.locator("#cover")).to_have_text("直播已结束")
        pushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pushing




@pytest.mark.timeout(120)
async def test_without_media_source_extensions_the_room_hands_hls_to_the_browser(rig: Rig,
                                                                                 new_page: NewPage) -> None:
    """A browser where hls.js cannot run (no MediaSource, as on older iPhones) gets the playlist in the video
    element itself, for its own HLS player. (Chromium on Linux says it "maybe" plays HLS but does not, so
    whether Safari then plays is not shown here: the branch is.)"""
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        key = (await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST))["stream_key"]
        pushing = asyncio.create_task(push(rig.rtmp(key), 30))
        try:
            page = await new_page(viewport=PHONE, locale="zh-CN")
            await page.add_init_script("delete window.MediaSource; delete window.ManagedMediaSource; "
                                       "delete window.WebKitMediaSource;")
            await page.goto(f"{rig.server.url}/live/{sid}?token={RESIDENT}")
            await expect(page.locator("#cover")).to_have_text("正在打开视频…", timeout=30_000)
            for _ in range(100):
                src = await page.evaluate("document.getElementById('video').src")
                if src:
                    break
                await asyncio.sleep(0.1)
            assert src.endswith("/index.m3u8"), src  # the playlist itself, not a MediaSource blob
        finally:
            pushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pushing


@pytest.mark.timeout(120)
async def test_the_host_console_shows_the_rtmp_server_and_the_stream_key(rig: Rig, new_page: NewPage) -> None:
    """The console names the server and the session's key for OBS (the key hidden until asked), says no picture
    has arrived yet, and replaces the key on request."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, rig.server.url)
        sid = await new_session(api)
        got = await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST)
    page = await new_page(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    await page.goto(f"{rig.server.url}/host?session={sid}&token={HOST}")
    await expect(page.locator("#rtmp-url")).to_have_value(got["rtmp_url"])
    await expect(page.locator("#stream-key")).to_have_value(got["stream_key"])
    assert await page.locator("#stream-key").get_attribute("type") == "password"
    await expect(page.locator("#ingest-status")).to_contain_text("还没收到画面")
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.locator("#new-key").click()
    await expect(page.locator("#stream-key")).not_to_have_value(got["stream_key"])
    assert (await page.locator("#stream-key").input_value()).startswith(sid + "-")


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` by name (from /proc)."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    found[int(child)] = Path(f"/proc/{child}/comm").read_text().strip()
    return found


@pytest.mark.timeout(120)
async def test_a_killed_linli_leaves_no_ingest_and_no_encoder_behind(tmp_path: Path) -> None:
    """SIGKILL `linli serve --demo`: its nginx and the demo's ffmpeg end with it (the parent-death signal),
    where its Redis, which must flush its AOF, is left for the next start."""
    server = await start_linli(["serve", "--demo"], linli_env(tmp_path / "var", LINLI_SECRET=SECRET,
                                                              LINLI_RTMP_PORT=str(free_port())), tmp_path / "serve.log")
    try:
        for _ in range(200):
            kids = children(server.proc.pid)
            if {"nginx", "ffmpeg"} <= set(kids.values()):
                break
            await asyncio.sleep(0.1)
        assert {"nginx", "ffmpeg"} <= set(kids.values()), (kids, server.output()[-2000:])
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    watched = [pid for pid, name in kids.items() if name in ("nginx", "ffmpeg")]
    for _ in range(100):
        if not any(process_running(pid) for pid in watched):
            break
        await asyncio.sleep(0.1)
    assert not any(process_running(pid) for pid in watched), "an ingest or encoder outlived linli"
    # The Redis it left is stopped by the next start on the folder; here, by hand.
    redis_pid = next((pid for pid, name in kids.items() if name in ("redis-server", "valkey-server")), None)
    if redis_pid and process_running(redis_pid):
        os.kill(redis_pid, signal.SIGTERM)


@pytest.mark.timeout(120)
async def test_a_platforms_flv_stream_plays_through_mpegts_js(rig: Rig, new_page: NewPage) -> None:
    """A host whose platform gives an http-flv URL: the room plays it live with mpegts.js (currentTime advances)."""

    async def serve_flv(request: web.Request) -> web.StreamResponse:
        # A platform's CDN: FLV as it is encoded, in real time, readable cross-origin.
        resp = web.StreamResponse(headers={"Access-Control-Allow-Origin": "*", "Content-Type": "video/x-flv"})
        await resp.prepare(request)
        encoder = await asyncio.create_subprocess_exec(
            find_ffmpeg(), "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
            "-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25",
            "-pix_fmt", "yuv420p", "-f", "flv", "pipe:1", stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL)
        assert encoder.stdout is not None
        try:
            while chunk := await encoder.stdout.read(16384):
                await resp.write(chunk)
        finally:
            if encoder.returncode is None:
                encoder.kill()
            await encoder.wait()
        return resp

    platform = web.Application()
    platform.add_routes([web.get("/live.flv", serve_flv)])
    runner = web.AppRunner(platform)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(http, rig.server.url)
            sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "平台直播", "community_id": "c1",
                                                                 "stream_url": f"http://127.0.0.1:{port}/live.flv"}))["id"]
        page = await new_page(viewport=PHONE, locale="zh-CN")
        await page.goto(f"{rig.server.url}/live/{sid}?token={RESIDENT}")
        await expect(page.locator("#cover")).to_be_hidden(timeout=30_000)
        first = await page.evaluate("document.getElementById('video').currentTime")
        await asyncio.sleep(2)
        assert await page.evaluate("document.getElementById('video').currentTime") > first + 1
        assert await page.evaluate("typeof window.mpegts") == "object"
    finally:
        await runner.cleanup()


@pytest.mark.timeout(120)
async def test_an_ingest_that_cannot_start_is_explained_and_the_rest_runs(tmp_path: Path) -> None:
    """The RTMP port is taken: linli serve still serves, logs why there is no ingest, and the host console's
    call says ready false with that reason (and the session still has its playback path, 204 until video)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = await start_linli(["serve"], linli_env(tmp_path / "var", LINLI_SECRET=SECRET,
                                                        LINLI_RTMP_PORT=str(port)), tmp_path / "serve.log")
        try:
            async with aiohttp.ClientSession() as http:
                api = Api(http, server.url)
                operator = token("root", "operator", None)
                await api.call("POST", "/api/communities", operator, {"id": "c1", "name": "幸福里"})
                sid = await new_session(api)
                got = await api.ok("GET", f"/api/sessions/{sid}/ingest", HOST)
                assert got["ready"] is False and f"port {port} on 127.0.0.1 is taken" in got["reason"]
                async with http.get(server.url + got["playback_url"]) as resp:
                    assert resp.status == 204
        finally:
            assert server.stop() == 0
    assert "no RTMP ingest: port" in server.output()
