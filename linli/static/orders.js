// "我的订单": each order with its status in plain words, where to collect it (name, address, hours),
// the big 6-digit code and its QR while it waits, who ordered it for her, and changing its point.
import { $, api, authHeaders, el, largeTextToggle, localTime, whoAmI, yuan } from "/static/common.js";
import { applyI18n, errorText, fmt, lang, languageToggle, t } from "/static/i18n.js";

const STATUS = {
  reserved: ["已下单，等送到自提点", "Ordered: on its way to the pickup point"],
  confirmed: ["已确认，等送到自提点", "Confirmed: on its way to the pickup point"],
  ready: ["已到自提点，可以去取了", "At the pickup point: come and collect"],
  collected: ["已取货", "Collected"],
  expired: ["过期未取，请联系社区办公室", "Not collected in time: ask the community office"],
  cancelled: ["已取消", "Cancelled"],
};
const ERRORS = {
  too_late: ["货已经到了自提点，不能再换了", "It is at its pickup point already and cannot move."],
};
const me = whoAmI();
let orders = [];
let points = [];

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }
const errText = (e) => (ERRORS[e && e.code] ? fmt(ERRORS[e.code]) : errorText(e));

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
  select.setAttribute("aria-label", t("换自提点"));
  for (const p of points) {
    const opt = el("option", p.name);
    opt.value = p.id;
    opt.selected = p.id === o.pickup_point_id;
    select.append(opt);
  }
  const button = el("button", t("换到这里"));
  button.type = "button";
  button.onclick = async () => {
    button.disabled = true;
    try {
      await api("PATCH", `/api/me/orders/${encodeURIComponent(o.id)}`, { pickup_point_id: select.value });
      say(t("已换好自提点"), true);
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
  section.append(el("p", fmt(STATUS[first.status] || [first.status, first.status]),
                    "state " + (first.status === "ready" ? "ready" : first.status === "expired" ? "expired" : gone ? "gone" : "")));
  const items = el("ul", undefined, "items");
  for (const o of group) {
    const li = el("li");
    li.append(el("span", `${o.title} × ${o.qty}`), el("span", yuan(o.qty * o.price_cents)));
    items.append(li);
  }
  section.append(items);
  if (first.pickup_code) {
    section.append(el("p", t("取货码"), "conn"), el("p", first.pickup_code, "pickup-code"));
    const img = el("img", undefined, "qr");
    img.alt = fmt(["取货二维码 {code}", "Pickup QR {code}"], { code: first.pickup_code });
    section.append(img);
    showQr(img, first.id);
  }
  if (first.pickup_point_name) {
    section.append(el("p", `${t("自提点")}：${first.pickup_point_name}`, "place"));
    const where = [first.pickup_point_address, first.pickup_point_hours && `${t("营业时间")} ${first.pickup_point_hours}`]
      .filter(Boolean).join(" · ");
    if (where) section.append(el("p", where, "place"));
  }
  if (first.status === "ready" && first.expires_at) {
    section.append(el("p", fmt(["请在 {when} 前取货", "Collect before {when}"], { when: localTime(first.expires_at, lang()) }), "place"));
  }
  if (first.collected_at) {
    section.append(el("p", fmt(["取货时间：{when}", "Collected {when}"], { when: localTime(first.collected_at, lang()) }), "place"));
  }
  for (const o of group) {
    if (o.proxy_by) { section.append(el("p", fmt(["代下单：网格员 {who}", "Ordered for you by grid worker {who}"], { who: o.proxy_by }), "proxy")); break; }
  }
  if (["reserved", "confirmed"].includes(first.status) && points.length > 1) {
    for (const o of group) section.append(moveControls(o));
  }
  return section;
}

function render() {
  $("status").textContent = orders.length ? fmt(["共 {n} 单", "{n} orders"], { n: orders.length }) : t("还没有订单");
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
  if (!me) { $("status").textContent = t("请先回首页登录"); return; }
  if (me.community_id) {
    try { points = (await api("GET", `/api/communities/${me.community_id}/pickup-points`)).pickup_points; } catch { points = []; }
  }
  await load();
}

largeTextToggle($("big-text"));
languageToggle($("lang"), render);
start();
