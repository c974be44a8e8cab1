// The resident's live room: one websocket, a snapshot first, then events; reconnects by itself.
import { $, api, largeTextToggle, liveSocket, localTime, yuan } from "/static/common.js";
import { applyI18n, errorText, lang, languageToggle, show, t } from "/static/i18n.js";
import { noticesInbox } from "/static/notices.js";
import { proxyTarget, showProxyBanner } from "/static/grid-proxy.js";
import { startPlayer } from "/static/player.js";
import { liveCommerce } from "/static/live-commerce.js";

const sid = location.pathname.split("/").pop();
const REASONS = { sold_out: "live.reason.sold_out", limit: "live.reason.limit", not_on_sale: "live.reason.not_on_sale",
                  not_enough: "live.reason.not_enough", not_your_resident: "live.reason.not_your_resident" };
// A grid worker ordering for a resident of her grid (代下单): every grab goes for_user her.
const proxy = proxyTarget(sid);
if (proxy) showProxyBanner(proxy);
// Neighbours are named by masked name (王*香), never by id; the host and helpers by their role.
const ROLE_NAMES = { host: "live.role.host", grid: "live.role.grid", admin: "live.role.admin", operator: "live.role.admin",
                     pickup: "live.role.pickup" };
const who = (name, role) => name || t(ROLE_NAMES[role] || "live.neighbour");
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
  if (item.left <= 0) { grab.disabled = true; grab.textContent = t("live.reason.sold_out"); }
  else if (!itemNow(item)) { grab.disabled = true; grab.textContent = t("live.reason.not_on_sale"); }
  else { grab.disabled = false; grab.textContent = t("live.grab_now"); }
}

function renderItems() {
  const list = $("items");
  list.replaceChildren(...[...state.items.values()].map((item) => {
    const li = document.createElement("li");
    // The number (2号) is how a comment names the item: 2号+1 grabs one.
    li.textContent = t("live.item_line", { n: item.id.slice(1), title: item.title, price: yuan(item.price_cents), unit: item.unit,
                                            left: item.left });
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t(item.left <= 0 ? "live.reason.sold_out" : itemNow(item) ? "live.grab" : "live.reason.not_on_sale");
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
    li.textContent = t("live.held_for_you", { title: item ? item.title : o.item_id, qty: o.qty, unit: item ? item.unit : "" }) + " ";
    if (o.status === "reserved") {
      if (state.releaseAt) {
        const by = document.createElement("span");
        by.className = "by";
        by.textContent = t("live.confirm_by", { when: localTime(state.releaseAt, lang()) }) + " ";
        li.append(by);
      }
      const b = document.createElement("button");
      b.type = "button"; b.textContent = t("live.keep_it");
      b.onclick = () => send({ type: "confirm_hold", order_id: o.id });
      li.append(b);
    } else li.append(t("live.confirmed"));
    return li;
  }));
  $("orders").replaceChildren(...orders.map((o) => {
    const li = document.createElement("li");
    const item = state.items.get(o.item_id);
    li.textContent = `${item ? item.title : o.item_id} × ${o.qty}  ${t(o.status === "cancelled" ? "common.cancelled" : "live.ordered")}`;
    return li;
  }));
}

function renderBags() {
  const list = $("bag-list");
  $("bags").hidden = state.bags.size === 0;
  list.replaceChildren(...[...state.bags.values()].map((bag) => {
    const li = document.createElement("li");
    const secs = Math.max(0, Math.ceil((bag.draw_at - Date.now()) / 1000));
    li.textContent = t("live.bag_line", { title: bag.title, n: bag.winners, secs });
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t(bag.entered ? "live.entered" : bag.needs_passphrase ? "live.enter_with_passphrase" : "live.enter_bag");
    b.disabled = bag.entered;
    b.onclick = () => {
      const passphrase = bag.needs_passphrase ? prompt(t("live.passphrase")) || "" : undefined;
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
  say($("grab-result"), "live.grabbing", true);
  const rid = requestId();
  state.grabs.set(rid, itemId);
  send({ type: "grab", item_id: itemId, qty: 1, request_id: rid, ...(proxy ? { for_user: proxy.id } : {}) });
}

function send(frame) {
  if (!state.socket.send(frame)) say($("grab-result"), "live.offline", false);
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
      lastViewers = e.viewers; $("viewers").textContent = t("live.watching", { n: e.viewers });
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
      lastViewers = e.viewers; $("viewers").textContent = t("live.watching", { n: e.viewers });
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
        say($("grab-result"), proxy ? t("live.got_it_for", { name: proxy.name }) : "live.got_it", true);
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
    case "lucky_bag_entered": { const b = state.bags.get(e.bag_id); if (b) { b.entered = true; renderBags(); } say($("bag-result"), "live.bag_entered", true); break; }
    case "lucky_bag_result": {
      // Residents get masked names and their own `won`; staff watching get the user ids.
      const names = e.winner_names || e.winners || [];
      const won = Boolean(e.won) || (e.winners || []).includes(state.me);
      state.bags.delete(e.bag_id); renderBags(); $("bags").hidden = false;
      say($("bag-result"), won ? "live.bag_won" : t("live.bag_drawn", { n: names.length }), won);
      $("bag-winners").textContent = t("common.label_value", { label: t("live.winners"),
        value: names.map((n) => n || t("live.neighbour")).join(t("common.enum_sep")) || "—" });
      // Anyone can check the draw: the seed revealed now against the hash published when the bag opened.
      $("bag-check").href = `/draws/${encodeURIComponent(e.bag_id)}`; $("bag-check").hidden = false;
      break;
    }
    case "hold_confirmed": {
      const h = state.holds.find((o) => o.id === e.order_id); if (h) h.status = "confirmed";
      renderMine(state.holds, state.orders); say($("grab-result"), "live.hold_kept", true); break;
    }
    case "hold_placed":
      if (!state.holds.some((h) => h.id === e.hold.id)) state.holds.push(e.hold);
      if (e.release_at) state.releaseAt = e.release_at;
      renderMine(state.holds, state.orders); break;
    case "hold_released":
      state.holds = state.holds.filter((h) => h.id !== e.order_id);
      renderMine(state.holds, state.orders); say($("grab-result"), "live.hold_released", false); break;
    case "notice": inbox.add(e.notice); break;
    case "comment": {
      const li = document.createElement("li"); li.textContent = t("common.label_value", { label: who(e.name, e.role), value: e.text });
      $("comments").append(li); li.scrollIntoView({ block: "nearest" }); break;
    }
    case "viewers": lastViewers = e.count; $("viewers").textContent = t("live.watching", { n: e.count }); break;
    case "session_ended":
      show($("conn"), "live.ended"); renderItems();
      if (state.player) { state.player.stop(); show($("cover"), "live.ended"); $("cover").hidden = false; }
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
  if (secs < 60) return t("live.seconds", { n: secs });
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = String(secs % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
setInterval(() => {  // countdowns
  const id = $("pinned").dataset.item; const i = state.items.get(id);
  const secs = i && i.on_sale && i.ends_at ? Math.max(0, Math.ceil((i.ends_at - Date.now()) / 1000)) : 0;
  $("pinned-countdown").textContent = secs ? t("live.ends_in", { clock: clock(secs) }) : "";
  if (i && i.on_sale && i.ends_at && i.ends_at <= Date.now()) { i.on_sale = false; renderItems(); }
  if (state.bags.size) renderBags();
}, 1000);
function renderNextWindow() {
  const w = state.nextWindow;
  $("next-window").hidden = !w;
  if (!w) return;
  $("next-info").textContent = t("live.next_window_line",
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
  $("viewers").textContent = t("live.watching", { n: lastViewers });
  renderItems(); renderBags(); renderMine(state.holds, state.orders); renderNextWindow(); inbox.render();
});
applyI18n();
inbox.reload();
findNextWindow();
// Who may not be here hears why and what to do, once; reconnecting would not change the answer.
const GONE = {
  401: ["live.gone.expired", "live.gone.sign_in_again", "/"],
  not_for_role: ["live.gone.supplier",
                 "live.gone.to_supplier_page", "/supplier"],
  403: ["live.gone.other_community", "common.home", "/"],
  404: ["live.gone.not_found", "common.home", "/"],
  410: ["live.gone.ended", "live.gone.see_my_orders", "/orders"],
};
function gone(e) {
  const [text, action, href] = GONE[e.code] || GONE[e.status];
  state.socket.stop();
  show($("conn"), text);  // each stays in the page's language when it is switched
  show($("gone-text"), text);
  show($("gone-link"), action);
  $("gone-link").href = href;
  $("gone").hidden = false;
  document.body.dataset.gone = e.code;
}
state.socket = liveSocket(sid, {
  onEvent,
  since: () => state.seq,  // a reconnect resumes from the last event seen (a snapshot if too old)
  onOpen: () => { show($("conn"), "live.connected"); },
  onClose: (e) => {
    if (e && (GONE[e.code] || GONE[e.status])) { gone(e); return; }
    show($("conn"), "live.offline");
  },
});
