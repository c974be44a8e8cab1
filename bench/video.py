"""Benchmark: the delay from the host's camera to a viewer's screen, through linli's own ingest.

    python -m bench.video     # or: linli bench video; BENCH_SECONDS (default 20), BENCH_RUNS (default 3)

A `linli serve` with its RTMP ingest; ffmpeg as the host's OBS, publishing the clock test pattern
(infra.clock_stream: each frame carries the wall-clock millisecond it was made in a band of blocks);
Debian's chromium playing the live room as a resident. For every frame the page shows, it reads the
stamp back from the pixels: delay = the frame's display time (requestVideoFrameCallback) - its stamp.

Beside it, from the same run: when each segment was listed in the playlist linli serves, minus the
stamp of its first frame (read the same way, by ffmpeg) -- what the ingest and HLS cost before any
player buffers. The rest is the player's: hls.js starts three segments behind the live edge.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import median, percentile, temp_folder
from infra.auth import issue_token
from infra.clock_stream import STAMP_BITS, STAMP_BLOCK, ClockStream, find_ffmpeg
from infra.media_server import find_nginx
from infra.redis_server import free_port

MOD = 2**STAMP_BITS
BAND_W = STAMP_BITS * STAMP_BLOCK

# Runs in the page: read each shown frame's stamp from its top-left band until `seconds` have passed.
READ_STAMPS = """async ([seconds, bits, block]) => {
  const v = document.getElementById("video");
  const c = document.createElement("canvas"); c.width = bits * block; c.height = block;
  const g = c.getContext("2d", { willReadFrequently: true });
  const delays = []; const end = performance.now() + seconds * 1000; const mod = 2 ** bits;
  return await new Promise((resolve) => {
    const step = (now, meta) => {
      g.drawImage(v, 0, 0, bits * block, block, 0, 0, bits * block, block);
      const px = g.getImageData(0, 0, bits * block, block).data;
      let stamp = 0;
      const row = (block >> 1) * bits * block;
      for (let k = 0; k < bits; k++) if (px[(row + k * block + (block >> 1)) * 4] > 128) stamp += 2 ** k;
      const shown = Math.floor(performance.timeOrigin + (meta.expectedDisplayTime ?? now));
      delays.push(((shown % mod) - stamp + mod) % mod);
      if (performance.now() < end) v.requestVideoFrameCallback(step); else resolve(delays);
    };
    v.requestVideoFrameCallback(step);
  });
}"""


def stamp_of_first_frame(segment: bytes, ffmpeg: str) -> int:
    """The clock stamp of a segment's first frame, read from its pixels by ffmpeg."""
    band = subprocess.run([ffmpeg, "-loglevel", "error", "-f", "mpegts", "-i", "pipe:0", "-frames:v", "1",
                           "-vf", f"crop={BAND_W}:{STAMP_BLOCK}:0:0,format=gray", "-f", "rawvideo", "pipe:1"],
                          input=segment, capture_output=True, check=True, timeout=20).stdout
    row = (STAMP_BLOCK // 2) * BAND_W
    return sum(1 << k for k in range(STAMP_BITS) if band[row + k * STAMP_BLOCK + STAMP_BLOCK // 2] > 128)


def spawn_linli(folder: Path, secret: str, port: int, rtmp: int) -> subprocess.Popen[bytes]:
    """`linli serve` with its ingest, on its own data folder; its log in ``folder/serve.log``."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(LINLI_DATA=str(folder / "var"), LINLI_SECRET=secret, LINLI_RTMP_PORT=str(rtmp))
    with open(folder / "serve.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "linli", "serve", "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


async def start_linli(folder: Path, secret: str) -> tuple[subprocess.Popen[bytes], str, int]:
    port, rtmp = free_port(), free_port()
    proc = await asyncio.to_thread(spawn_linli, folder, secret, port, rtmp)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return proc, url, rtmp
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"linli did not start: {(folder / 'serve.log').read_text(errors='replace')[-2000:]}")


async def call(http: aiohttp.ClientSession, url: str, tok: str, method: str, path: str, body: Any = None) -> Any:
    async with http.request(method, url + path, json=body, headers={"Authorization": f"Bearer {tok}"}) as resp:
        assert resp.status in (200, 201, 409), (path, resp.status, await resp.text())
        return await resp.json()


async def watch_segments(http: aiohttp.ClientSession, playlist_url: str, ffmpeg: str, out: list[float],
                         stop: asyncio.Event) -> None:
    """Each new segment's listing time minus its first frame's stamp, polled every 20 ms."""
    seen: set[str] = set()
    while not stop.is_set():
        async with http.get(playlist_url) as resp:
            listed = time.time()
            text = await resp.text() if resp.status == 200 else ""
        for name in re.findall(r"^(\d+\.ts)$", text, re.M):
            if name in seen:
                continue
            seen.add(name)
            if len(seen) <= 3:  # the segments already there when we began were listed earlier
                continue
            async with http.get(playlist_url.replace("index.m3u8", name)) as resp:
                segment = await resp.read()
            stamp = await asyncio.to_thread(stamp_of_first_frame, segment, ffmpeg)
            out.append((int(listed * 1000) % MOD - stamp) % MOD)
        await asyncio.sleep(0.02)


async def watch_in_chromium(chromium: str, live_url: str, seconds: float) -> list[float]:
    """Open the live room as a resident on a phone-sized page; each shown frame's delay once it plays."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740})
            await page.goto(live_url)
            for _ in range(600):  # the page allows no eval, so poll rather than wait_for_function
                if await page.evaluate("document.getElementById('video').currentTime") > 3:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the live room did not play within 60 s")
            return [float(d) for d in await page.evaluate(READ_STAMPS, [seconds, STAMP_BITS, STAMP_BLOCK])]
        finally:
            await browser.close()


async def run_once(seconds: float, chromium: str) -> tuple[list[float], list[float]]:
    ffmpeg = find_ffmpeg()
    find_nginx()
    secret = secrets.token_urlsafe(32)
    with temp_folder("linli-bench-video-") as folder:
        proc, url, rtmp = await start_linli(folder, secret)
        source: ClockStream | None = None
        try:
            host = issue_token(secret, user_id="host1", role="host", community_id="c1", ttl_s=3600)
            viewer = issue_token(secret, user_id="wang", role="resident", community_id="c1", ttl_s=3600)
            operator = issue_token(secret, user_id="root", role="operator", community_id=None, ttl_s=3600)
            async with aiohttp.ClientSession() as http:
                await call(http, url, operator, "POST", "/api/communities", {"id": "c1", "name": "幸福里"})
                session = {"title": "测延迟", "community_id": "c1"}
                sid = (await call(http, url, host, "POST", "/api/sessions", session))["id"]
                await call(http, url, host, "POST", f"/api/sessions/{sid}/live")
                ingest = await call(http, url, host, "GET", f"/api/sessions/{sid}/ingest")
                source = ClockStream(f"rtmp://127.0.0.1:{rtmp}/live/{ingest['stream_key']}", ffmpeg=ffmpeg)
                source.start()
                listed: list[float] = []
                stop = asyncio.Event()
                watcher = asyncio.create_task(watch_segments(http, url + ingest["playback_url"], ffmpeg, listed, stop))
                try:
                    shown = await watch_in_chromium(chromium, f"{url}/live/{sid}?token={viewer}", seconds)
                finally:
                    stop.set()
                    await watcher
            return shown, listed
        finally:
            if source is not None:
                await source.stop()
            proc.terminate()
            await asyncio.to_thread(proc.wait, 30)


def main(runs: int | None = None, seconds: float | None = None) -> int:
    """Print the camera-to-screen delay next to the camera-to-playlist delay, per run and over all runs."""
    import shutil

    runs = runs or int(os.environ.get("BENCH_RUNS", "3"))
    seconds = seconds or float(os.environ.get("BENCH_SECONDS", "20"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("bench video needs Debian's chromium (apt-get install chromium)")
        return 1
    print(f"camera -> viewer's screen, {runs} runs of {seconds:.0f} s; ms (median / p90 / max)")
    every_shown: list[float] = []
    every_listed: list[float] = []
    for n in range(runs):
        shown, listed = asyncio.run(run_once(seconds, chromium))
        every_shown += shown
        every_listed += listed
        print(f"  run {n + 1}: screen {median(shown):.0f} / {percentile(shown, 0.9):.0f} / {max(shown):.0f} "
              f"({len(shown)} frames); segment listed {median(listed):.0f} / {percentile(listed, 0.9):.0f} / "
              f"{max(listed):.0f} ({len(listed)} segments)")
    print(f"all runs: screen {median(every_shown):.0f} ms median, {percentile(every_shown, 0.9):.0f} ms p90; "
          f"baseline (first frame of a segment to its listing) {median(every_listed):.0f} ms median")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
