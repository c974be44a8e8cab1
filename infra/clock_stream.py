"""A generated live stream for the demo and the delay benchmark: ffmpeg's test pattern with a clock.

Each frame shows the time of day as text, for people, and carries the wall-clock millisecond at
which ffmpeg made it in a band of 24 black or white 16x16 blocks across its top left (bit k of
``ms mod 2**24`` in block k, lowest first), for a page to read back: display time minus that stamp
is the delay from this "camera" to the viewer's screen (bench/video.py).

It publishes over RTMP to the ingest (as a host's OBS would) or, where the ingest does not run,
writes HLS itself into the folder the ingest would have used. ffmpeg is Debian's ``ffmpeg`` on
PATH; where it is missing ``find_ffmpeg`` says so and the caller goes on without video.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import signal
from pathlib import Path

from infra.media_server import die_with_parent

log = logging.getLogger(__name__)

STAMP_BITS = 24
STAMP_BLOCK = 16  # pixels: survives H.264 at the bitrate below
FPS = 25


class FfmpegMissing(RuntimeError):
    """No ffmpeg on this machine; the message says what to install."""


def find_ffmpeg(path: str | None = None) -> str:
    found = shutil.which("ffmpeg", path=path)
    if not found:
        raise FfmpegMissing("no ffmpeg for the generated test stream: apt-get install ffmpeg")
    return found


def stamp_filter() -> str:
    """The filtergraph that stamps each frame's creation time (ms, mod 2**24) into its top-left band."""
    bit = f"mod(floor(mod(floor(T*1000)\\,{2 ** STAMP_BITS})/pow(2\\,floor(X/{STAMP_BLOCK})))\\,2)"
    width = STAMP_BITS * STAMP_BLOCK
    return (
        # RTCTIME (wall clock, microseconds) as the timestamp, so geq's T is the moment of creation.
        "[0:v]settb=1/1000000,setpts=RTCTIME,split[base][stamp];"
        f"[stamp]crop={width}:{STAMP_BLOCK}:0:0,geq=lum='16+219*{bit}':cb=128:cr=128[band];"
        "[base][band]overlay=0:0,"
        "drawtext=text='%{localtime}':fontsize=28:fontcolor=white:box=1:boxcolor=black@0.6:x=20:y=h-50,"
        f"setpts=N/{FPS}/TB,format=yuv420p[v]"
    )


def argv(ffmpeg: str, target: str, *, size: str = "640x360") -> list[str]:
    """ffmpeg pushing the stamped test pattern to ``target``: an rtmp:// URL, or an HLS playlist path."""
    out: list[str]
    if target.startswith("rtmp://"):
        out = ["-f", "flv", target]
    else:
        # Segments named as the ingest names them (0.ts, 1.ts, ...), which is what linli serves.
        out = ["-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
               "-hls_flags", "delete_segments+program_date_time+omit_endlist",
               "-hls_segment_filename", str(Path(target).parent / "%d.ts"), target]
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}",
        "-filter_complex", stamp_filter(), "-map", "[v]",
        # One keyframe a second, so the ingest can cut 1 s segments; zerolatency: no frames held back.
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main",
        "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0", "-b:v", "900k", "-maxrate", "900k",
        "-bufsize", "900k", *out,
    ]


class ClockStream:
    """Run the generated stream until stopped, starting ffmpeg again whenever it ends (for instance
    when the ingest was not listening yet, or refused it while the web server was starting)."""

    def __init__(self, target: str, *, ffmpeg: str | None = None, retry_s: float = 2.0) -> None:
        self.target = target
        self.ffmpeg = ffmpeg or find_ffmpeg()
        self.retry_s = retry_s
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not self.target.startswith("rtmp://"):
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name="clock-stream")

    async def _run(self) -> None:
        while True:
            self.process = await asyncio.create_subprocess_exec(
                *argv(self.ffmpeg, self.target), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                # An encoder left behind would burn a core for nobody. SIGKILL, not SIGTERM: on SIGTERM
                # ffmpeg tries to finish its stream, and with the ingest dying too it can wait on a
                # dead RTMP connection; a test pattern has nothing worth flushing.
                preexec_fn=functools.partial(die_with_parent, signal.SIGKILL))
            self.starts += 1
            _, err = await self.process.communicate()
            log.info("the generated test stream ended (%s): %s; starting it again in %ss", self.process.returncode,
                     err.decode(errors="replace").strip()[-200:] or "no message", self.retry_s)
            await asyncio.sleep(self.retry_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        proc, self.process = self.process, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # ffmpeg closes its output cleanly on SIGINT
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
