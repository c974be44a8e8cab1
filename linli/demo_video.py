"""The demo's live video: today's demo session plays a generated test stream, so a newcomer sees video.

The stream is ffmpeg's test pattern with the time of day burnt in (infra.clock_stream). It is pushed
over RTMP into the ingest, as a host's OBS would push, so the demo shows the whole path; where the
ingest does not run (no nginx) ffmpeg writes the HLS itself into the folder the ingest would have
used. Without ffmpeg the room says it waits for the host's video, and the rest of the demo runs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from infra.clock_stream import ClockStream, FfmpegMissing, find_ffmpeg
from infra.media_server import RTMP_APP, IngestInfo
from infra.resources import Resources
from linli.demo import DEMO_KEY
from stream import api as stream


@asynccontextmanager
async def demo_video(res: Resources, live: stream.Live, ingest: IngestInfo) -> AsyncIterator[str]:
    """Run the test stream into today's demo session while the context is open; yields a line to print."""
    raw = await res.redis.get(DEMO_KEY)
    sid = json.loads(raw).get("today") if raw else None
    if not sid:
        yield "demo video: no demo session"
        return
    try:
        ffmpeg = find_ffmpeg()
    except FfmpegMissing as exc:
        yield f"demo video: {exc}; the live room waits for a host's video instead"
        return
    key = (await stream.video_fields(live, sid))["ingest_key"]
    if ingest.running:
        host = "127.0.0.1" if ingest.listen_host in ("0.0.0.0", "::", "") else ingest.listen_host
        target, how = f"rtmp://{host}:{ingest.port}/{RTMP_APP}/{key}", "pushed over RTMP into the ingest"
    else:
        target, how = str(ingest.hls_dir / key / "index.m3u8"), f"written as HLS directly ({ingest.reason})"
    source = ClockStream(target, ffmpeg=ffmpeg)
    source.start()
    try:
        yield f"demo video: a generated test stream with a clock, {how}, plays in live session {sid}"
    finally:
        await source.stop()
