// The live room's video. HLS plays through hls.js (from /static/vendor, pinned by package-lock.json)
// wherever the browser has Media Source Extensions, and natively where it has not (Safari on older
// iPhones); a platform's FLV (http-flv) through mpegts.js where MSE is there; a plain video file
// plays as it is. WebRTC (WHEP) is not played. linli's own ingest answers 204 until the host pushes,
// so the player waits quietly, then starts by itself when the stream arrives.
import { show } from "/static/i18n.js";

const HLS_MODULE = "/static/vendor/hls.light.min.mjs";
const FLV_SCRIPT = "/static/vendor/mpegts.js";  // a classic script (UMD): it sets window.mpegts
const WAIT_MS = 3000;
const TEXT = {
  waiting: "player.text.waiting",
  loading: "player.text.loading",
  unsupported: "player.text.unsupported",
  flv: "player.text.flv",
  broken: "player.text.broken",
  sound: "player.text.sound",
};

const isFlv = (url) => /\.flv(\?|$)/i.test(url);
const isHls = (url) => /\.m3u8(\?|$)/i.test(url) || url.startsWith("/media/");
const native = (video) => Boolean(video.canPlayType("application/vnd.apple.mpegurl"));

/** Play `url` in `video`, telling the viewer what happens in `cover` (hidden while the video plays)
 *  and offering `soundButton` while the browser keeps the autoplaying video muted. */
export function startPlayer(video, cover, soundButton, url) {
  let hls = null, flv = null, timer = 0, stopped = false, shown = "waiting";
  const say = (key) => { shown = key; show(cover, TEXT[key]); cover.hidden = false; video.hidden = key !== "loading"; };
  const playing = () => { cover.hidden = true; video.hidden = false; soundButton.hidden = !video.muted; };
  video.muted = true;  // browsers only autoplay muted video; the sound button unmutes it
  video.playsInline = true;
  video.addEventListener("playing", playing);
  video.addEventListener("volumechange", () => { soundButton.hidden = !video.muted || video.hidden; });
  show(soundButton, TEXT.sound);
  soundButton.onclick = () => { video.muted = false; video.play().catch(() => {}); };

  const retry = (key) => {
    if (stopped) return;
    if (hls) { hls.destroy(); hls = null; }
    if (flv) { flv.destroy(); flv = null; }
    say(key);
    clearTimeout(timer);
    timer = setTimeout(start, WAIT_MS);
  };

  async function ready() {
    // Only linli's own ingest says "not yet" with a 204; a platform's URL is tried at once.
    if (!url.startsWith("/media/")) return true;
    try {
      const resp = await fetch(url, { cache: "no-store" });
      return resp.status === 200;
    } catch { return false; }
  }

  async function start() {
    if (stopped) return;
    if (isFlv(url)) { await startFlv(); return; }
    if (!isHls(url)) { video.src = url; video.play().catch(() => {}); return; }
    if (!(await ready())) { retry(shown === "broken" ? "broken" : "waiting"); return; }
    say("loading");
    const { default: Hls } = await import(HLS_MODULE);
    if (Hls.isSupported()) {
      // No worker: the page's Content-Security-Policy allows no blob: scripts, and one stream is light.
      // Two 1 s segments behind the live edge, caught up by playing up to 10% faster after a stall or a
      // late join: about 2 s from the host's camera to the screen on one machine (docs/benchmarks.md, section 6).
      hls = new Hls({ enableWorker: false, liveDurationInfinity: true, manifestLoadingMaxRetry: 2,
                      liveSyncDurationCount: 2, maxLiveSyncPlaybackRate: 1.1 });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else retry("broken");  // the stream stopped or the network dropped: wait for it again
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    } else if (native(video)) {
      video.src = url;
      video.addEventListener("error", () => retry("broken"), { once: true });
      video.play().catch(() => {});
    } else say("unsupported");
  }

  async function startFlv() {
    say("loading");
    const mpegts = await loadScript(FLV_SCRIPT, "mpegts");
    if (!mpegts.isSupported()) { say("flv"); return; }
    mpegts.LoggingControl.enableAll = false;  // it would log every reconnect to the console
    flv = mpegts.createPlayer({ type: "flv", isLive: true, url }, { enableWorker: false, liveBufferLatencyChasing: true });
    flv.on(mpegts.Events.ERROR, () => retry("broken"));
    flv.attachMediaElement(video);
    flv.load();
    Promise.resolve(flv.play()).catch(() => {});
  }

  say("waiting");
  start();
  return {
    stop() {
      stopped = true; clearTimeout(timer);
      if (hls) hls.destroy();
      if (flv) flv.destroy();
      video.removeAttribute("src"); video.hidden = true;
    },
    get hls() { return hls; },
  };
}

/** Load a classic script once and resolve to the global it defines. */
function loadScript(src, global) {
  if (window[global]) return Promise.resolve(window[global]);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = () => resolve(window[global]);
    script.onerror = reject;
    document.head.append(script);
  });
}
