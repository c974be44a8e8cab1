// What every page shares: the signed-in token, one fetch helper for the API, money in yuan,
// the large-text switch and the websocket to a live session.

const TOKEN_KEY = "linli-token";
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
  // A token given once as ?token= is kept for the next visit.
  const given = new URLSearchParams(location.search).get("token");
  if (given) localStorage.setItem(TOKEN_KEY, given);
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

/** Call the HTTP API with the token; resolves to the JSON body, rejects with the problem's message. */
export async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  // A proxy in front may answer an error with HTML: fall back to the status text.
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error ? data.error.message : resp.statusText);
  return data;
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
 * to 10 s). `onEvent` gets each decoded frame. Returns `send(frame)` (false when offline),
 * `resync()` (drop the socket; the next one starts with a fresh snapshot) and `stop()`.
 */
export function liveSocket(sid, { onEvent, onOpen = () => {}, onClose = () => {} }) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/sessions/${sid}?token=${encodeURIComponent(token)}`;
  let ws = null, retry = 0, stopped = false;
  const open = () => {
    ws = new WebSocket(url);
    ws.onopen = () => { retry = 0; onOpen(); };
    ws.onmessage = (m) => onEvent(JSON.parse(m.data));
    ws.onclose = () => {
      if (stopped) return;
      onClose();
      setTimeout(open, Math.min(10000, 500 * 2 ** retry++));
    };
  };
  open();
  return {
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    resync() { ws.close(); },
    stop() { stopped = true; ws.close(); },
  };
}
