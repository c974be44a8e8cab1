// What every page shares: the signed-in token, one fetch helper for the API, money in yuan,
// the large-text switch and the websocket to a live session.
import { lang as pageLang } from "/static/i18n.js";

const TOKEN_KEY = "linli-token";

// An old link may carry ?token=. Before anything else the token moves into this browser's storage
// and out of the address bar, so the page's URL can be shared, bookmarked or seen without the
// identity in it. No link the system makes carries a token.
const fromLink = (() => {
  const params = new URLSearchParams(location.search);
  if (!params.has("token")) return null;
  const given = params.get("token");
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  return given;
})();

// The host console once kept its token under a key of its own.
const OLD_TOKEN_KEY = "linli-host-token";

function keptToken() {
  // Move a token from the old key once, so whoever signed in before stays signed in; a token
  // already under the new key is the newer sign-in and wins.
  const old = localStorage.getItem(OLD_TOKEN_KEY);
  if (old !== null) {
    if (!localStorage.getItem(TOKEN_KEY)) localStorage.setItem(TOKEN_KEY, old);
    localStorage.removeItem(OLD_TOKEN_KEY);
  }
  if (fromLink) localStorage.setItem(TOKEN_KEY, fromLink);
  return localStorage.getItem(TOKEN_KEY) || "";
}

/** The bearer token of whoever is signed in on this browser ("" when nobody is). */
export const token = keptToken();

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Integer cents (分) as yuan: 2800 -> "¥28.00". */
export const yuan = (cents) => "¥" + (cents / 100).toFixed(2);

/** Headers that carry the token. */
export const authHeaders = () => ({ "Authorization": "Bearer " + token });

/** A failed API call: the problem's `code` (what pages translate), its HTTP `status` and message. */
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** Call the HTTP API with the token; resolves to the JSON body, rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "offline", String(e));
  }
  // A proxy in front may answer an error with HTML: fall back to the status.
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data.error ? data.error.code : `http_${resp.status}`,
                                   data.error ? data.error.message : resp.statusText);
  return data;
}

/** Sign in on this browser (the token is kept, never put in a link), then open `url`. */
export function signInAndGo(newToken, url) {
  localStorage.setItem(TOKEN_KEY, newToken);
  location.href = url;
}

/** The signed-in caller as the token says (no check with the server): {user_id, role, community_id}. */
export function whoAmI() {
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return { user_id: claims.sub, role: claims.role, community_id: claims.community || null };
  } catch { return null; }
}

const pad = (n) => String(n).padStart(2, "0");

/** Epoch ms as this browser's local "2025-06-07T18:30", the value of an <input type="datetime-local">. */
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of an <input type="datetime-local"> (local time) as epoch ms; NaN when empty. */
export const fromLocalInput = (value) => (value ? new Date(value).getTime() : NaN);

/** Epoch ms in local time for people: "6月7日 周六 18:30" (or the English form); the page's language unless told. */
export function localTime(ms, lang = pageLang()) {
  const d = new Date(ms);
  if (lang === "en") return d.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  const day = d.toLocaleDateString("zh-CN", { month: "long", day: "numeric" });
  return `${day} ${d.toLocaleDateString("zh-CN", { weekday: "short" })} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A new element: el("li", "text", "class"). */
export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** Make `button` switch large text on and off for every page; the choice is kept for the next visit. */
export function largeTextToggle(button) {
  const show = (on) => {
    document.documentElement.classList.toggle("big", on);
    button.setAttribute("aria-pressed", String(on));
  };
  show(Boolean(localStorage.getItem("linli-big")));
  button.onclick = () => {
    const on = !document.documentElement.classList.contains("big");
    show(on);
    localStorage.setItem("linli-big", on ? "1" : "");
  };
}

/**
 * Keep a websocket to live session `sid` open, reconnecting after every close (0.5 s, doubling up
 * to 10 s). Each connection starts with a single-use ticket from POST /api/ws-tickets, so the
 * token never goes into a URL. `onEvent` gets each decoded frame; `onClose` gets the ApiError
 * when no ticket could be had (e.g. 401: sign in again). Returns `send(frame)` (false when
 * offline), `resync()` (drop the socket; the next one starts with a fresh snapshot) and `stop()`.
 * `since()`: the seq of the last event the page has, so a reconnect resumes from there (0: a snapshot).
 */
export function liveSocket(sid, { onEvent, onOpen = () => {}, onClose = () => {}, since = () => 0 }) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws = null, retry = 0, stopped = false;
  const again = () => setTimeout(open, Math.min(10000, 500 * 2 ** retry++));
  async function open() {
    if (stopped) return;
    let ticket;
    try {
      ({ ticket } = await api("POST", "/api/ws-tickets", { session_id: sid }));
    } catch (e) {
      if (stopped) return;
      onClose(e);
      again();
      return;
    }
    if (stopped) return;
    const last = since();
    ws = new WebSocket(`${scheme}://${location.host}/ws/sessions/${encodeURIComponent(sid)}?ticket=${encodeURIComponent(ticket)}`
                       + (last > 0 ? `&since=${last}` : ""));
    ws.onopen = () => { retry = 0; onOpen(); };
    ws.onmessage = (m) => onEvent(JSON.parse(m.data));
    ws.onclose = () => {
      if (stopped) return;
      onClose();
      again();
    };
  }
  open();
  return {
    send(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    resync() { if (ws) ws.close(); },
    stop() { stopped = true; if (ws) ws.close(); },
  };
}
