"""A live session's own video: the stream key a host publishes with and the path viewers play.

A session without a platform URL plays what its host pushes to linli's RTMP ingest
(infra.media_server). Two secrets per session sit in its Redis hash, neither a user token:

- ``ingest_key``: the stream key, ``<sid>-<32 hex>``, which the host pastes into OBS. nginx writes
  the stream's HLS under a folder of that name, so it never appears in a URL a viewer sees.
- ``media_key``: 32 hex in the playback path ``/media/<sid>/<media_key>/index.m3u8``. Players (a
  phone's native HLS among them) cannot send an Authorization header with every segment, so the
  path itself is what lets them in; it is handed out only with the session's own state, to people
  of its community (the snapshot frame and GET /api/sessions/{sid}).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from aiohttp import web

from infra.ids import ID_RE
from infra.media_server import RTMP_APP, IngestInfo
from infra.resources import as_str
from stream import keys
from stream.context import Live

KEY_RE = re.compile(r"^(?P<sid>[A-Za-z0-9_-]{1,64})-(?P<secret>[0-9a-f]{32})$")
SEGMENT_RE = re.compile(r"^(index\.m3u8|\d{1,12}\.ts)$")


# The web application holds the ingest's state here (set by linli.app).
INGEST = web.AppKey("ingest", IngestInfo)


def playback_path(sid: str, media_key: str) -> str:
    return f"/media/{sid}/{media_key}/index.m3u8"


def new_video_keys(sid: str) -> tuple[str, str]:
    """A fresh (stream key, media key) for a session."""
    return f"{sid}-{secrets.token_hex(16)}", secrets.token_hex(16)


async def video_fields(live: Live, sid: str, *, new_key: bool = False) -> dict[str, str]:
    """The session's stream key, media key and stream_url, made on first use (a session created before
    the ingest existed has none); ``new_key`` replaces the stream key, so the old one is refused."""
    fresh_ingest, fresh_media = new_video_keys(sid)
    key = keys.session(sid)
    if new_key:
        await live.redis.hset(key, "ingest_key", fresh_ingest)
    else:
        await live.redis.hsetnx(key, "ingest_key", fresh_ingest)
    await live.redis.hsetnx(key, "media_key", fresh_media)
    ingest_key, media_key, stream_url = (as_str(v) if v is not None else ""
                                         for v in await live.redis.hmget(key, "ingest_key", "media_key", "stream_url"))
    if not stream_url:  # no platform URL: the session plays its own ingest
        stream_url = playback_path(sid, media_key)
        await live.redis.hset(key, "stream_url", stream_url)
    return {"ingest_key": ingest_key, "media_key": media_key, "stream_url": stream_url}


async def may_publish(live: Live, stream_key: str) -> str | None:
    """The session a stream key publishes to, when the key is that session's and it has not ended."""
    match = KEY_RE.match(stream_key)
    if not match or not ID_RE.match(match["sid"]):
        return None
    sid = match["sid"]
    known, status = await live.redis.hmget(keys.session(sid), "ingest_key", "status")
    if known is None or not secrets.compare_digest(as_str(known).encode(), stream_key.encode()):
        return None
    return sid if status is not None and as_str(status) in ("draft", "live") else None


async def media_file(live: Live, info: IngestInfo, sid: str, media_key: str, name: str) -> Path | None:
    """The file behind a playback path when the path's media key is the session's (it may not exist yet); else None."""
    if not ID_RE.match(sid) or not SEGMENT_RE.match(name) or not re.fullmatch(r"[0-9a-f]{32}", media_key):
        return None
    known, ingest_key = await live.redis.hmget(keys.session(sid), "media_key", "ingest_key")
    if known is None or ingest_key is None or not secrets.compare_digest(as_str(known).encode(), media_key.encode()):
        return None
    return info.hls_dir / as_str(ingest_key) / name


def rtmp_url(info: IngestInfo, request: web.Request) -> str:
    """The server URL a host types into OBS: the configured one, else this web page's host name."""
    if info.public_url:
        return info.public_url
    host = request.url.host or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"rtmp://{host}:{info.port}/{RTMP_APP}"
