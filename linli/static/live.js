// The resident's live room: one websocket, a snapshot first, then events; reconnects by itself.
import { $, api, largeTextToggle, liveSocket, localTime, yuan } from "/static/common.js";
import { applyI18n, errorText, fmt, lang, languageToggle, t } from "/static/i18n.js";
import { noticesInbox } from "/static/notices.js";
import { proxyTarget, showProxyBanner } from "/static/grid-proxy.js";
import { startPlayer } from "/static/player.js";
import { liveCommerce } from "/static/live-commerce.js";

const sid = location.pathname.split("/").pop();
const REASONS = { sold_out: "已抢光", limit: "已达限购", not_on_sale: "未开售", not_enough: "库存不足",
                  not_your_resident: "她不在您的网格里，不能替她下单" };
// A grid worker ordering for a resident of her grid (代下单): every grab goes for_user her.
const proxy = proxyTarget(sid);
if (proxy) showProxyBanner(proxy);
// Neighbours are named by masked name (王*香), never by id; the host and helpers by their role.
const ROLE_NAMES = { host: "主播", grid: "网格员", admin: "管理员", operator: "管理员", pickup: "自提点" };
const who = (name, role) => name || t(ROLE_NAMES[role] || "邻居");
let lastViewers = 0;
const state = { items: new Map(), pinned: null, seq: 0, me: "", bags: new Map(), socket: null,
                holds: [], orders: [], grabs: new Map(), releaseAt: 0, nextWindow: null, streamUrl: "", player: null };

const requestId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
// Scheduled flashes, the purchase ticker and the answers to comments that grab (红薯+2).
const commerce = liveCommerce({ items: () => state.items, say: (text, ok) => say($("grab-result"), text, ok) });

function itemNow(item) {
  return item.on_sale && (!item.ends_at || item.ends_at > Date.now());
}

function renderPinned() {
  const item = state.items.get(state.pinned) || [...state.items.values()].find(itemNow);
  $("pinned").hidden = !item;
  if (!item) return;
  $("pinned").dataset.item = item.id;
  $("pinned-title").textContent = item.title;
  $("pinned-price").textContent = yuan(item.price_cents);
  $("pinned-unit").textContent = "/ " + item.unit;
  $("pinned-unit2").textContent = item.unit;
  $("pinned-left").textContent = item.left;
  const grab = $("grab");
  if (item.left <= 0) { grab.disabled = true; grab.textContent = t("已抢光"); }
  else if (!itemNow(item)) { grab.disabled = true; grab.textContent = t("未开售"); }
  else { grab.disabled = false; grab.textContent = t("立即抢购"); }
}

function renderItems() {
  const list = $("items");
  list.replaceChildren(...[...state.items.values()].map((item) => {
    const li = document.createElement("li");
    // The number (2号) is how a comment names the item: 2号+1 grabs one.
    li.textContent = `${item.id.slice(1)}号 ${item.title}  ${yuan(item.price_cents)}/${item.unit}  ${t("剩余")} ${item.left}`;
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t(item.left <= 0 ? "已抢光" : itemNow(item) ? "抢" : "未开售");
    b.disabled = item.left <= 0 || !itemNow(item);
    b.onclick = () => grab(item.id);
    li.append(b);
    return li;
  }));
  renderPinned();
}

function renderMine(holds, orders) {
  $("holds").replaceChildren(...holds.map((o) => {
    const li = document.createElement("li");
    li.className = "hold " + o.status;
    const item = state.items.get(o.item_id);
    li.textContent = `${t("为您预留：")}${item ? item.title : o.item_id} ${o.qty}${item ? item.unit : ""} `;
    if (o.status === "reserved") {
      if (state.releaseAt) {
        const by = document.createElement("span");
        by.className = "by";
        by.textContent = fmt(["请在 {when} 前确认", "confirm by {when}"], { when: localTime(state.releaseAt, lang()) }) + " ";
        li.append(by);
      }
      const b = document.createElement("button");
      b.type = "button"; b.textContent = t("确认要");
      b.onclick = () => send({ type: "confirm_hold", order_id: o.id });
      li.append(b);
    } else li.append(t("（已确认）"));
    return li;
  }));
  $("orders").replaceChildren(...orders.map((o) => {
    const li = document.createElement("li");
    const item = state.items.get(o.item_id);
    li.textContent = `${item ? item.title : o.item_id} × ${o.qty}  ${t(o.status === "cancelled" ? "已取消" : "已下单")}`;
    return li;
  }));
}

function renderBags() {
  const list = $("bag-list");
  $("bags").hidden = state.bags.size === 0;
  list.replaceChildren(...[...state.bags.values()].map((bag) => {
    const li = document.createElement("li");
    const secs = Math.max(0, Math.ceil((bag.draw_at - Date.now()) / 1000));
    li.textContent = `${bag.title}（${bag.winners}个名额，${secs}秒后开奖）`;
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t(bag.entered ? "已参与" : bag.needs_passphrase ? "发口令参与" : "参与");
    b.disabled = bag.entered;
    b.onclick = () => {
      const passphrase = bag.needs_passphrase ? prompt(t("请输入口令")) || "" : undefined;
      send({ type: "enter_lucky_bag", bag_id: bag.id, passphrase });
    };
    li.append(b);
    return li;
  }));
}

function say(el, text, ok) {
  el.textContent = t(text);
  el.className = "result " + (ok ? "ok" : "no");
}

function grab(itemId) {
  say($("grab-result"), "正在抢…", true);
  const rid = requestId();
  state.grabs.set(rid, itemId);
  send({ type: "grab", item_id: itemId, qty: 1, request_id: rid, ...(proxy ? { for_user: proxy.id } : {}) });
}

function send(frame) {
  if (!state.socket.send(frame)) say($("grab-result"), "网络断了，正在重连…", false);
}

function onEvent(e) {
  if (e.seq) {
    if (e.seq <= state.seq) return;
    if (state.seq && e.seq > state.seq + 1) { state.socket.resync(); return; } // a gap: resync from a snapshot
    state.seq = e.seq;
  }
  commerce.onEvent(e);
  switch (e.type) {
    case "snapshot":
      state.seq = e.seq; state.me = e.me; state.pinned = e.pinned_item_id;
      $("title").textContent = e.title;
      lastViewers = e.viewers; $("viewers").textContent = `${t("在线")} ${e.viewers}`;
      state.items = new Map(e.items.map((i) => [i.id, i]));
      state.bags = new Map(e.lucky_bags.map((b) => [b.id, b]));
      if (e.stream_url && e.stream_url !== state.streamUrl) {  // a reconnect's snapshot keeps the video playing
        if (state.player) state.player.stop();
        state.streamUrl = e.stream_url;
        state.player = startPlayer($("video"), $("cover"), $("sound"), e.stream_url);
      }
      state.holds = e.holds; state.orders = e.orders; state.releaseAt = e.hold_release_at || 0;
      renderItems(); renderBags(); renderMine(state.holds, state.orders);
      break;
    case "resumed":  // back after a blip: the missed events follow; her own holds and orders come fresh
      lastViewers = e.viewers; $("viewers").textContent = `${t("在线")} ${e.viewers}`;
      state.holds = e.holds; state.orders = e.orders; state.releaseAt = e.hold_release_at || 0;
      renderMine(state.holds, state.orders);
      break;
    case "stock": { const i = state.items.get(e.item_id); if (i) { i.left = e.left; renderItems(); } break; }
    case "item_added": state.items.set(e.item.id, e.item); renderItems(); break;
    case "item_pinned": state.pinned = e.item_id; renderPinned(); break;
    case "flash_started": {
      const i = state.items.get(e.item_id);
      if (i) Object.assign(i, { on_sale: true, ends_at: e.ends_at, price_cents: e.price_cents, left: e.left });
      state.pinned = e.item_id; renderItems(); break;
    }
    case "flash_ended": { const i = state.items.get(e.item_id); if (i) { i.on_sale = false; i.left = e.left; renderItems(); } break; }
    case "grab_result":
      if (e.ok) {
        say($("grab-result"), proxy ? fmt(["已替 {name} 抢到！", "Got it for {name}!"], { name: proxy.name }) : "抢到了！", true);
        if (!state.orders.some((o) => o.id === e.order_id)) {
          // A comment that grabbed (红薯+2) names its item and quantity; a tap is one of the item it asked for.
          state.orders.push({ id: e.order_id, item_id: state.grabs.get(e.request_id) || e.item_id, qty: e.qty || 1,
                              status: "reserved" });
          renderMine(state.holds, state.orders);
        }
      } else say($("grab-result"), REASONS[e.reason] || e.reason, false);
      {
        const i = state.items.get(state.grabs.get(e.request_id) || e.item_id);
        if (i && typeof e.left === "number") { i.left = e.left; renderItems(); }  // never a stale "in stock"
        state.grabs.delete(e.request_id);
      }
      break;
    case "lucky_bag_started": state.bags.set(e.bag.id, e.bag); renderBags(); break;
    case "lucky_bag_entered": { const b = state.bags.get(e.bag_id); if (b) { b.entered = true; renderBags(); } say($("bag-result"), "已参与福袋，等待开奖", true); break; }
    case "lucky_bag_result": {
      // Residents get masked names and their own `won`; staff watching get the user ids.
      const names = e.winner_names || e.winners || [];
      const won = Boolean(e.won) || (e.winners || []).includes(state.me);
      state.bags.delete(e.bag_id); renderBags(); $("bags").hidden = false;
      say($("bag-result"), won ? "恭喜您中了福袋！" : `福袋已开奖：${names.length}位邻居中奖`, won);
      $("bag-winners").textContent = `${t("中奖名单")}：${names.map((n) => n || t("邻居")).join("、") || "—"}`;
      // Anyone can check the draw: the seed revealed now against the hash published when the bag opened.
      $("bag-check").href = `/draws/${encodeURIComponent(e.bag_id)}`; $("bag-check").hidden = false;
      break;
    }
    case "hold_confirmed": {
      const h = state.holds.find((o) => o.id === e.order_id); if (h) h.status = "confirmed";
      renderMine(state.holds, state.orders); say($("grab-result"), "已确认预留", true); break;
    }
    case "hold_placed":
      if (!state.holds.some((h) => h.id === e.hold.id)) state.holds.push(e.hold);
      if (e.release_at) state.releaseAt = e.release_at;
      renderMine(state.holds, state.orders); break;
    case "hold_released":
      state.holds = state.holds.filter((h) => h.id !== e.order_id);
      renderMine(state.holds, state.orders); say($("grab-result"), "预留已放回直播间", false); break;
    case "notice": inbox.add(e.notice); break;
    case "comment": {
      const li = document.createElement("li"); li.textContent = `${who(e.name, e.role)}：${e.text}`;
      $("comments").append(li); li.scrollIntoView({ block: "nearest" }); break;
    }
    case "viewers": lastViewers = e.count; $("viewers").textContent = `${t("在线")} ${e.count}`; break;
    case "session_ended":
      $("conn").textContent = t("直播已结束"); renderItems();
      if (state.player) { state.player.stop(); $("cover").textContent = t("直播已结束"); $("cover").hidden = false; }
      break;
    case "error": $("grab-result").textContent = errorText(e); $("grab-result").className = "result no"; break;
  }
}

$("grab").onclick = () => grab($("pinned").dataset.item);
$("comment-form").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("comment-text").value.trim();
  // The id lets a comment that grabs (红薯+2) grab once however often the frame is resent.
  if (text) { send({ type: "comment", text, request_id: requestId() }); $("comment-text").value = ""; }
};
largeTextToggle($("big-text"));
// A countdown as people read one: 45 秒 under a minute, else 5:07 or 1:05:07.
function clock(secs) {
  if (secs < 60) return `${secs} ${t("秒")}`;
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = String(secs % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
setInterval(() => {  // countdowns
  const id = $("pinned").dataset.item; const i = state.items.get(id);
  const secs = i && i.on_sale && i.ends_at ? Math.max(0, Math.ceil((i.ends_at - Date.now()) / 1000)) : 0;
  $("pinned-countdown").textContent = secs ? `${t("还剩")} ${clock(secs)}` : "";
  if (i && i.on_sale && i.ends_at && i.ends_at <= Date.now()) { i.on_sale = false; renderItems(); }
  if (state.bags.size) renderBags();
}, 1000);
function renderNextWindow() {
  const w = state.nextWindow;
  $("next-window").hidden = !w;
  if (!w) return;
  $("next-info").textContent = fmt(["{title}：{cutoff} 截单", "{title}: wishes until {cutoff}"],
                                   { title: w.session_title || "", cutoff: localTime(w.cutoff_at, lang()) });
  $("next-link").href = `/wishes/${w.id}`;
}

/** The open wish window of the community's next live, for the link under the room. */
async function findNextWindow() {
  try {
    const me = await api("GET", "/api/me");
    const data = await api("GET", `/api/communities/${me.community_id}/wish-windows`);
    state.nextWindow = (data.windows || []).filter((w) => w.accepting && w.session_id !== sid)
      .sort((a, b) => a.live_at - b.live_at)[0] || null;
    renderNextWindow();
  } catch { /* the room works without it */ }
}

const inbox = noticesInbox($("inbox"), $("notices"));
languageToggle($("lang"), () => {
  $("viewers").textContent = `${t("在线")} ${lastViewers}`;
  renderItems(); renderBags(); renderMine(state.holds, state.orders); renderNextWindow(); inbox.render();
});
applyI18n();
inbox.reload();
findNextWindow();
// Who may not be here hears why and what to do, once; reconnecting would not change the answer.
const GONE = {
  401: [["登录已过期，请重新登录", "Your sign-in has expired: please sign in again"], ["重新登录", "Sign in again"], "/"],
  not_for_role: [["直播间是给居民和社区工作人员的，供应商账号进不来", "The live room is for residents and community staff, not for suppliers"],
                 ["去供应商页面", "Go to the supplier page"], "/supplier"],
  403: [["这是别的小区的直播，您进不来", "This live belongs to another community"], ["回首页", "Home"], "/"],
  404: [["找不到这场直播，请检查链接", "There is no such live: please check the link"], ["回首页", "Home"], "/"],
  410: [["这场直播已经结束了", "This live has ended"], ["看看我的订单", "See my orders"], "/orders"],
};
function gone(e) {
  const [text, action, href] = GONE[e.code] || GONE[e.status];
  state.socket.stop();
  const show = () => {
    $("conn").textContent = fmt(text);
    $("gone-text").textContent = fmt(text);
    $("gone-link").textContent = fmt(action);
  };
  show();
  $("lang").addEventListener("click", show);  // after the switch itself: the message in the new language
  $("gone-link").href = href;
  $("gone").hidden = false;
  document.body.dataset.gone = e.code;
}
state.socket = liveSocket(sid, {
  onEvent,
  since: () => state.seq,  // a reconnect resumes from the last event seen (a snapshot if too old)
  onOpen: () => { $("conn").textContent = t("已连接"); },
  onClose: (e) => {
    if (e && (GONE[e.code] || GONE[e.status])) { gone(e); return; }
    $("conn").textContent = t("网络断了，正在重连…");
  },
});
