"""HTTP routes of a session's own video: the host's stream key, nginx's publish check, the HLS files."""

from __future__ import annotations

import logging
import time
import urllib.parse
from pathlib import Path

import msgspec
from aiohttp import web

from infra.apidoc import endpoint
from infra.errors import BadRequest, Forbidden, NotFound
from infra.http import json_response, require
from stream import sessions, video
from stream.context import LIVE

log = logging.getLogger(__name__)
HOST_ROLES = ("host",)
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


class IngestView(msgspec.Struct, kw_only=True):
    rtmp_url: str  # the server to type into OBS or a phone's RTMP app
    stream_key: str  # the session's secret stream key (never a user token)
    playback_url: str  # what viewers play while the host pushes here
    stream_url: str  # what viewers of this session play now (a platform URL, when the host gave one)
    ready: bool  # the ingest runs on this server
    reason: str | None = None  # why not, when it does not
    publishing: bool = False  # a stream has reached the ingest in the last few seconds


class Publishing(msgspec.Struct, kw_only=True):
    session_id: str  # the session the stream key publishes to


def _view(request: web.Request, fields: dict[str, str]) -> IngestView:
    info = request.app[video.INGEST]
    playlist = info.hls_dir / fields["ingest_key"] / "index.m3u8"
    return IngestView(rtmp_url=video.rtmp_url(info, request), stream_key=fields["ingest_key"],
                      playback_url=video.playback_path(request.match_info["sid"], fields["media_key"]),
                      stream_url=fields["stream_url"], ready=info.running, reason=info.reason,
                      publishing=_fresh(playlist))


def _fresh(playlist: Path) -> bool:
    # nginx rewrites the playlist with every segment (each second or so) while a stream arrives.
    try:
        return time.time() - playlist.stat().st_mtime < 10
    except OSError:
        return False


@endpoint(response=IngestView, roles=HOST_ROLES)
async def get_ingest(request: web.Request) -> web.Response:
    """The session's RTMP address and stream key for OBS, and whether a stream is arriving."""
    principal = require(request, *HOST_ROLES)
    state = await sessions.host_session(request.app[LIVE], principal, request.match_info["sid"])
    return json_response(_view(request, await video.video_fields(request.app[LIVE], state.id)))


@endpoint(response=IngestView, roles=HOST_ROLES)
async def new_stream_key(request: web.Request) -> web.Response:
    """Replace the session's stream key (the old one is refused from now on, a stream using it goes on)."""
    principal = require(request, *HOST_ROLES)
    state = await sessions.host_session(request.app[LIVE], principal, request.match_info["sid"], "draft", "live")
    return json_response(_view(request, await video.video_fields(request.app[LIVE], state.id, new_key=True)))


@endpoint(roles=None, response=Publishing)
async def check_publish(request: web.Request) -> web.Response:
    """nginx's on_publish: 200 lets a stream in, 403 refuses it (unknown key, or the session ended).
    Only the ingest on this machine asks (a form body, as nginx posts it)."""
    remote = request.remote or ""
    allowed = LOOPBACK | {request.app[video.INGEST].listen_host}
    if remote not in allowed:
        raise Forbidden("only the ingest on this server checks stream keys", code="not_the_ingest")
    raw = await request.read()
    if len(raw) > 8192:
        raise BadRequest("an on_publish form is a few hundred bytes")
    try:
        # nginx posts application/x-www-form-urlencoded; anything else reads as no key at all.
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8"), max_num_fields=50).items()}
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the body is not the form nginx posts") from exc
    name = form.get("name")
    sid = await video.may_publish(request.app[LIVE], name) if name else None
    if sid is None:
        log.warning("RTMP publish refused: unknown or ended stream key (from %s)", form.get("addr"))
        raise Forbidden("no live or upcoming session has this stream key", code="stream_key_refused")
    log.info("RTMP publish accepted for session %s (from %s)", sid, form.get("addr"))
    return json_response(Publishing(session_id=sid))


@endpoint(roles=None, response=None, content_type="application/vnd.apple.mpegurl")
async def media(request: web.Request) -> web.StreamResponse:
    """/media/{sid}/{key}/{name}: the playlist and segments of a session's own stream; the path's key is the pass.
    The playlist is 204 until the host pushes (the player waits on that without an error)."""
    m = request.match_info
    path = await video.media_file(request.app[LIVE], request.app[video.INGEST], m["sid"], m["key"], m["name"])
    if path is None:
        raise NotFound("no such stream", code="no_stream")
    playlist = path.suffix == ".m3u8"
    if not path.is_file():
        if playlist:
            return web.Response(status=204, headers={"Cache-Control": "no-cache"})
        raise NotFound("no such segment (it may have rolled off the live window)", code="no_segment")
    return web.FileResponse(path, headers={
        "Content-Type": "application/vnd.apple.mpegurl" if playlist else "video/mp2t",
        # A live playlist changes every segment; a segment never changes once listed.
        "Cache-Control": "no-cache" if playlist else "max-age=60"})


routes = [
    web.get("/api/sessions/{sid}/ingest", get_ingest),
    web.post("/api/sessions/{sid}/ingest/key", new_stream_key),
    web.post("/api/ingest/publish", check_publish),
    web.get("/media/{sid}/{key}/{name}", media),
]
