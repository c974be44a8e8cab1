// "我的订单": each order with its status in plain words, where to collect it (name, address, hours),
// the big 6-digit code and its QR while it waits, who ordered it for her, and changing its point.
import { $, api, authHeaders, el, largeTextToggle, localTime, whoAmI, yuan } from "/static/common.js";
import { applyI18n, errorText, lang, languageToggle, show, t } from "/static/i18n.js";

const STATUS = {
  reserved: "orders.status.reserved",
  confirmed: "orders.status.confirmed",
  ready: "orders.status.ready",
  collected: "orders.status.collected",
  expired: "orders.status.expired",
  cancelled: "common.cancelled",
};
const ERRORS = {
  too_late: "orders.errors.too_late",
};
const me = whoAmI();
let orders = [];
let points = [];

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }
const errText = (e) => (ERRORS[e && e.code] ? t(ERRORS[e.code]) : errorText(e));

/** The QR of an order, fetched with the token in the header and shown as a data: URL (never a token in a URL). */
async function showQr(img, oid) {
  try {
    const resp = await fetch(`/api/me/orders/${encodeURIComponent(oid)}/qr.svg`, { headers: authHeaders() });
    if (!resp.ok) { img.hidden = true; return; }
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(await resp.text());
  } catch { img.hidden = true; }
}

/** Orders of one pickup (one code) show as one card; others one each. */
function groups() {
  const by = new Map();
  for (const o of orders) {
    const key = o.pickup_code ? `${o.pickup_point_id}:${o.pickup_code}` : o.id;
    if (!by.has(key)) by.set(key, []);
    by.get(key).push(o);
  }
  return [...by.values()];
}

function moveControls(o) {
  const box = el("div", undefined, "move");
  const select = el("select");
  select.setAttribute("aria-label", t("orders.change_point"));
  for (const p of points) {
    const opt = el("option", p.name);
    opt.value = p.id;
    opt.selected = p.id === o.pickup_point_id;
    select.append(opt);
  }
  const button = el("button", t("orders.move_here"));
  button.type = "button";
  button.onclick = async () => {
    button.disabled = true;
    try {
      await api("PATCH", `/api/me/orders/${encodeURIComponent(o.id)}`, { pickup_point_id: select.value });
      say(t("orders.point_changed"), true);
      await load();
    } catch (e) { say(errText(e), false); button.disabled = false; }
  };
  box.append(select, button);
  return box;
}

function card(group) {
  const first = group[0];
  const section = el("section", undefined, "card order");
  section.dataset.status = first.status;
  const gone = ["collected", "cancelled"].includes(first.status);
  section.append(el("p", t(STATUS[first.status] || first.status),
                    "state " + (first.status === "ready" ? "ready" : first.status === "expired" ? "expired" : gone ? "gone" : "")));
  const items = el("ul", undefined, "items");
  for (const o of group) {
    const li = el("li");
    li.append(el("span", `${o.title} × ${o.qty}`), el("span", yuan(o.qty * o.price_cents)));
    items.append(li);
  }
  section.append(items);
  if (first.pickup_code) {
    section.append(el("p", t("orders.pickup_code"), "conn"), el("p", first.pickup_code, "pickup-code"));
    const img = el("img", undefined, "qr");
    img.alt = t("orders.pickup_qr_code", { code: first.pickup_code });
    section.append(img);
    showQr(img, first.id);
  }
  if (first.pickup_point_name) {
    section.append(el("p", t("common.label_value", { label: t("common.pickup_point"), value: first.pickup_point_name }), "place"));
    const where = [first.pickup_point_address, first.pickup_point_hours && `${t("orders.opening_hours")} ${first.pickup_point_hours}`]
      .filter(Boolean).join(" · ");
    if (where) section.append(el("p", where, "place"));
  }
  if (first.status === "ready" && first.expires_at) {
    section.append(el("p", t("orders.collect_before_when", { when: localTime(first.expires_at, lang()) }), "place"));
  }
  if (first.collected_at) {
    section.append(el("p", t("orders.collected_when", { when: localTime(first.collected_at, lang()) }), "place"));
  }
  for (const o of group) {
    if (o.proxy_by) { section.append(el("p", t("orders.ordered_for_you_by", { who: o.proxy_by }), "proxy")); break; }
  }
  if (["reserved", "confirmed"].includes(first.status) && points.length > 1) {
    for (const o of group) section.append(moveControls(o));
  }
  return section;
}

function render() {
  if (orders.length) show($("status"), "orders.n_orders", { n: orders.length }); else show($("status"), "orders.no_orders_yet");
  $("orders").replaceChildren(...groups().map(card));
}

async function load() {
  try {
    orders = (await api("GET", "/api/me/orders")).orders;
  } catch (e) { $("status").textContent = errText(e); return; }
  render();
}

async function start() {
  applyI18n();
  if (!me) { show($("status"), "common.sign_in_first"); return; }
  if (me.community_id) {
    try { points = (await api("GET", `/api/communities/${me.community_id}/pickup-points`)).pickup_points; } catch { points = []; }
  }
  await load();
}

largeTextToggle($("big-text"));
languageToggle($("lang"), render);
start();
