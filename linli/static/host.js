// The host console: create and run a session over the HTTP API, watch it live over the websocket.
import { $, api as callApi, largeTextToggle, liveSocket, yuan } from "/static/common.js";
import { windowPanel } from "/static/host-window.js";
import { insightPanel } from "/static/insight.js";
import { applyI18n, errorText, languageToggle, t } from "/static/i18n.js";

const params = new URLSearchParams(location.search);
const state = { sid: params.get("session") || null, items: new Map(), stock: new Map(), history: [], socket: null };
const wishing = windowPanel((text) => { $("status").textContent = text; });
const insight = insightPanel();  // scheduled flashes, the live chart and the after-live summary

function api(method, path, body) {
  // The console shows every failed call in its status line.
  return callApi(method, path, body).catch((e) => { $("status").textContent = t("common.failed_prefix") + errorText(e); throw e; });
}

function render() {
  let revenue = 0;
  $("items").replaceChildren(...[...state.items.values()].map((item) => {
    const sold = item.loaded - item.left;
    revenue += sold * item.price_cents;
    const tr = document.createElement("tr");
    tr.className = "line";
    for (const v of [item.title, `${yuan(item.price_cents)}/${item.unit}`, String(sold), String(item.left)]) {
      const td = document.createElement("td"); td.textContent = v; tr.append(td);
    }
    const td = document.createElement("td");
    const pin = document.createElement("button"); pin.type = "button"; pin.textContent = t("host.pin");
    pin.onclick = () => api("POST", `/api/sessions/${state.sid}/items/${item.id}/pin`);
    const flash = document.createElement("button"); flash.type = "button"; flash.textContent = t(item.on_sale ? "host.flashing" : "host.start_flash");
    flash.disabled = item.on_sale;
    flash.onclick = () => api("POST", `/api/sessions/${state.sid}/items/${item.id}/flash`, { duration_s: Number($("flash-seconds").value) });
    td.append(pin, " ", flash); tr.append(td);
    return tr;
  }));
  $("revenue").textContent = yuan(revenue);
  drawChart();
}

function drawChart() {
  // Units left across all items, sampled every second: a small live line chart.
  const c = $("chart"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const h = state.history.slice(-120), max = Math.max(1, ...h);
  g.strokeStyle = "#c62828"; g.lineWidth = 2; g.beginPath();
  h.forEach((v, i) => { const x = (i / 119) * c.width, y = c.height - (v / max) * (c.height - 10) - 5; i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke();
}

async function openSession(sid) {
  state.sid = sid;
  state.items = new Map();
  const s = await api("GET", `/api/sessions/${sid}`);
  for (const i of s.items) state.items.set(i.id, { ...i, loaded: i.left + (i.sold || 0) });
  $("session-info").textContent = t("host.session_info", { id: s.id, title: s.title,
    status: t(s.status === "live" ? "host.status.live" : s.status === "ended" ? "host.status.ended" : "host.status.draft") });
  $("go-live").disabled = s.status !== "draft"; $("end").disabled = s.status === "ended";
  $("add-item").disabled = $("start-bag").disabled = s.status === "ended";
  $("share").href = `/live/${sid}`; $("share").hidden = false;
  $("status").textContent = t("host.session_open");
  history.replaceState(null, "", `?session=${sid}`);
  render();
  if (s.status === "ended") state.socket?.stop(); else connect();  // an ended live has no room to join (410)
  wishing.show(sid);
  insight.show(sid, [...state.items.values()]);
  showIngest();
}

// Where the host points OBS: the server and this session's secret stream key (not her login token).
async function showIngest(path = "", method = "GET") {
  const got = await api(method, `/api/sessions/${state.sid}/ingest${path}`);
  $("ingest").hidden = false;
  $("rtmp-url").value = got.rtmp_url;
  $("stream-key").value = got.stream_key;
  $("ingest-status").textContent = !got.ready ? t("host.ingest.none", { reason: got.reason })
    : t(got.stream_url !== got.playback_url ? "host.ingest.platform" : got.publishing ? "host.ingest.publishing" : "host.ingest.waiting");
}

function connect() {
  if (state.socket) state.socket.stop();
  state.socket = liveSocket(state.sid, { onEvent });
}

function onEvent(e) {
  const item = state.items.get(e.item_id);
  if (e.type === "stock" && item) item.left = e.left;
  if (e.type === "flash_started" && item) { item.on_sale = true; item.left = e.left; item.price_cents = e.price_cents; }
  if (e.type === "flash_ended" && item) { item.on_sale = false; item.left = e.left; }
  if (e.type === "item_added") state.items.set(e.item.id, { ...e.item, loaded: e.item.left });
  if (e.type === "viewers" || e.type === "snapshot") $("viewers").textContent = t("live.watching", { n: e.count ?? e.viewers });
  if (e.type === "session_live" || e.type === "session_ended") openSession(state.sid);
  if (e.type === "lucky_bag_result") audit(e.bag_id);
  insight.onEvent(e);
  render();
}

async function audit(bagId) {
  const bag = await api("GET", `/api/sessions/${state.sid}/lucky-bags/${bagId}`);
  const li = document.createElement("li");
  li.textContent = t("host.audit_line", { title: bag.title, n: bag.entrants.length, seed: bag.seed,
                                          winners: bag.winners.join(t("common.enum_sep")) || t("host.no_winner") });
  if (bag.undrawn) li.textContent += t("host.undrawn", { n: bag.undrawn });
  const check = document.createElement("a");  // the public check anyone can open
  check.href = `/draws/${encodeURIComponent(bagId)}`; check.textContent = " " + t("host.check");
  li.append(check);
  $("audit").append(li);
}

$("session-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const me = await api("GET", "/api/me");
  const s = await api("POST", "/api/sessions", { title: $("session-title").value, community_id: me.community_id });
  openSession(s.id);
};
$("item-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const item = await api("POST", `/api/sessions/${state.sid}/items`, {
    title: $("item-title").value, price_cents: Number($("item-price").value), unit: $("item-unit").value,
    stock: Number($("item-stock").value), per_user_limit: Number($("item-limit").value) });
  state.items.set(item.id, { ...item, loaded: item.left });
  render();
};
$("show-key").onclick = () => {
  const shown = $("stream-key").type === "text";
  $("stream-key").type = shown ? "password" : "text"; $("show-key").textContent = t(shown ? "host.show_key" : "host.hide_key");
};
$("new-key").onclick = () => confirm(t("host.confirm_new_key")) && showIngest("/key", "POST");
setInterval(() => { if (state.sid && !$("ingest").hidden) showIngest().catch(() => {}); }, 5000);
$("go-live").onclick = () => api("POST", `/api/sessions/${state.sid}/live`).then(() => openSession(state.sid));
$("end").onclick = () => confirm(t("host.confirm_end")) && api("POST", `/api/sessions/${state.sid}/end`).then(() => openSession(state.sid));
$("bag-form").onsubmit = async (ev) => {
  ev.preventDefault();
  await api("POST", `/api/sessions/${state.sid}/lucky-bags`, {
    title: $("bag-title").value, winners: Number($("bag-winners").value), countdown_s: Number($("bag-countdown").value),
    passphrase: $("bag-pass").value || undefined, prize_points: Number($("bag-points").value),
    prefer_new_days: Number($("bag-prefer").value) || 0, monthly_cap: Number($("bag-cap").value) || 0 });
  $("status").textContent = t("host.bag_started");
};
setInterval(() => { state.history.push([...state.items.values()].reduce((n, i) => n + i.left, 0)); drawChart(); }, 1000);
largeTextToggle($("big-text"));
languageToggle($("lang"));  // the console is loaded again in the other language (its session is in the URL)
applyI18n();
if (state.sid) openSession(state.sid); else wishing.show(null);
