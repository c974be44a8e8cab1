// The host console: create and run a session over the HTTP API, watch it live over the websocket.
import { $, api as callApi, liveSocket, yuan } from "/static/common.js";
import { windowPanel } from "/static/host-window.js";
import { insightPanel } from "/static/insight.js";
import { errorText } from "/static/i18n.js";

const params = new URLSearchParams(location.search);
const state = { sid: params.get("session") || null, items: new Map(), stock: new Map(), history: [], socket: null };
const wishing = windowPanel((text) => { $("status").textContent = text; });
const insight = insightPanel();  // scheduled flashes, the live chart and the after-live summary

function api(method, path, body) {
  // The console shows every failed call in its status line.
  return callApi(method, path, body).catch((e) => { $("status").textContent = "出错了：" + errorText(e); throw e; });
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
    const pin = document.createElement("button"); pin.type = "button"; pin.textContent = "置顶";
    pin.onclick = () => api("POST", `/api/sessions/${state.sid}/items/${item.id}/pin`);
    const flash = document.createElement("button"); flash.type = "button"; flash.textContent = item.on_sale ? "秒杀中" : "开秒杀";
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
  $("session-info").textContent = `场次 ${s.id} · ${s.title} · ${s.status === "live" ? "直播中" : s.status === "ended" ? "已结束" : "未开播"}`;
  $("go-live").disabled = s.status !== "draft"; $("end").disabled = s.status === "ended";
  $("add-item").disabled = $("start-bag").disabled = s.status === "ended";
  $("share").href = `/live/${sid}`; $("share").hidden = false;
  $("status").textContent = "已连接场次";
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
  $("ingest-status").textContent = !got.ready ? `本机没有推流服务：${got.reason}`
    : got.stream_url !== got.playback_url ? "本场用的是平台的直播地址，居民看平台的画面"
    : got.publishing ? "正在收到画面，居民可以看了" : "还没收到画面：在 OBS 里填上面的服务器和密钥，点开始推流";
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
  if (e.type === "viewers" || e.type === "snapshot") $("viewers").textContent = "在线 " + (e.count ?? e.viewers);
  if (e.type === "session_live" || e.type === "session_ended") openSession(state.sid);
  if (e.type === "lucky_bag_result") audit(e.bag_id);
  insight.onEvent(e);
  render();
}

async function audit(bagId) {
  const bag = await api("GET", `/api/sessions/${state.sid}/lucky-bags/${bagId}`);
  const li = document.createElement("li");
  li.textContent = `${bag.title}：${bag.entrants.length}人参与，中奖 ${bag.winners.join("、") || "无"}（种子 ${bag.seed}）`;
  if (bag.undrawn) li.textContent += `，${bag.undrawn} 份没人能中，已回库存`;
  const check = document.createElement("a");  // the public check anyone can open
  check.href = `/draws/${encodeURIComponent(bagId)}`; check.textContent = " 开奖公证";
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
  $("stream-key").type = shown ? "password" : "text"; $("show-key").textContent = shown ? "显示" : "隐藏";
};
$("new-key").onclick = () => confirm("换密钥后，旧密钥不能再推流。确定？") && showIngest("/key", "POST");
setInterval(() => { if (state.sid && !$("ingest").hidden) showIngest().catch(() => {}); }, 5000);
$("go-live").onclick = () => api("POST", `/api/sessions/${state.sid}/live`).then(() => openSession(state.sid));
$("end").onclick = () => confirm("确定结束直播？") && api("POST", `/api/sessions/${state.sid}/end`).then(() => openSession(state.sid));
$("bag-form").onsubmit = async (ev) => {
  ev.preventDefault();
  await api("POST", `/api/sessions/${state.sid}/lucky-bags`, {
    title: $("bag-title").value, winners: Number($("bag-winners").value), countdown_s: Number($("bag-countdown").value),
    passphrase: $("bag-pass").value || undefined, prize_points: Number($("bag-points").value),
    prefer_new_days: Number($("bag-prefer").value) || 0, monthly_cap: Number($("bag-cap").value) || 0 });
  $("status").textContent = "福袋已发出";
};
setInterval(() => { state.history.push([...state.items.values()].reduce((n, i) => n + i.left, 0)); drawChart(); }, 1000);
if (state.sid) openSession(state.sid); else wishing.show(null);
