// The pickup counter: staff type a code (or a scanner types its QR), see whose orders it collects
// and confirm; below, what is due at this point today and the "delivery arrived" button.
import { $, api, el, largeTextToggle, whoAmI } from "/static/common.js";
import { applyI18n, errorText, fmt, languageToggle, t } from "/static/i18n.js";

// What the counter meets, in plain words (the common table knows the rest).
const ERRORS = {
  unknown_code: ["没有这个取货码，请再核对一下", "No pickup has this code. Please check it."],
  bad_code: ["取货码是6位数字", "A pickup code is 6 digits."],
  already_collected: ["这个码已经取过货了", "This code was collected already."],
  expired: ["这单已过期，请联系社区办公室", "This pickup expired. Please ask the community office."],
  other_point: ["这不是本自提点的货", "That is for another pickup point."],
  rate_limited: ["输错太多次了，请等 {wait} 秒再试", "Too many wrong codes. Wait {wait} s and try again."],
  not_bound: ["您还没有绑定自提点，请联系社区办公室", "You are bound to no pickup point yet. Ask the community office."],
};
const STATUS = { waiting: ["待送达", "On its way"], ready: ["可取货", "Ready"] };

const me = whoAmI();
let point = null;
let due = [];

function errText(e, wait) {
  const known = ERRORS[e && e.code];
  return known ? fmt(known, { wait: wait || 60 }) : errorText(e);
}

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }

/** The 6 digits of what was typed or scanned (linli:pickup:<point>:<code>), or the text itself. */
function digitsOf(raw) {
  const text = raw.trim();
  const m = text.match(/^linli:pickup:.*:(\d{6})$/);
  return m ? m[1] : text;
}

const orderLine = (o) => `${o.title} × ${o.qty}`;

function renderPreview() {
  const code = digitsOf($("code").value);
  const found = due.find((p) => p.code === code);
  $("preview").hidden = !found;
  if (!found) return;
  $("preview-name").textContent = found.name;
  $("preview-orders").replaceChildren(...found.orders.map((o) => el("li", orderLine(o))));
}

function renderDue() {
  const list = $("due");
  list.replaceChildren(...(due.length ? due.map((p) => {
    const li = el("li");
    li.dataset.code = p.code || "";
    const line = el("div", undefined, "line");
    line.append(el("span", p.code || "", "code"), el("span", p.name, "who-small"),
                el("span", fmt(STATUS[p.status] || [p.status, p.status]), "tag " + p.status));
    li.append(line, el("p", p.orders.map(orderLine).join("，"), "what"));
    return li;
  }) : [el("li", t("现在没有要取的货"))]));
  // One "arrived" button per session whose goods are still on their way.
  const waiting = [...new Set(due.filter((p) => p.status === "waiting").map((p) => p.session_id))];
  $("deliveries").replaceChildren(...waiting.map((sid) => {
    const b = el("button", fmt(["这批货到了（{n} 单）", "This delivery arrived ({n})"],
                             { n: due.filter((p) => p.session_id === sid && p.status === "waiting").length }), "arrived");
    b.type = "button";
    b.onclick = async () => {
      b.disabled = true;
      try {
        const done = await api("POST", `/api/pickup-points/${point.id}/deliveries`, { session_id: sid });
        say(fmt(["已到货：{n} 位居民可以来取了", "Arrived: {n} residents can collect now"], { n: done.pickups }), true);
      } catch (e) { say(errText(e), false); }
      await loadDue();
    };
    return b;
  }));
  renderPreview();
}

async function loadDue() {
  try {
    due = (await api("GET", `/api/pickup-points/${point.id}/handover`)).pickups;
  } catch (e) { say(errText(e), false); due = []; }
  renderDue();
}

async function confirm(ev) {
  ev.preventDefault();
  const raw = $("code").value.trim();
  if (!raw) { say(t("请输入取货码"), false); return; }
  $("confirm").disabled = true;
  try {
    const done = await api("POST", `/api/pickup-points/${point.id}/collect`, { code: raw });
    say(fmt(["已取货 ✓ {name}", "Collected ✓ {name}"], { name: done.pickup.name }), true);
    const li = el("li", `${done.pickup.name}：${done.orders.map(orderLine).join("，")}`);
    $("collected").prepend(li);
    $("code").value = "";
  } catch (e) {
    const wait = e.status === 429 ? (e.message.match(/(\d+) s/) || [])[1] : null;
    say(errText(e, wait), false);
  } finally {
    $("confirm").disabled = false;
    $("code").focus();
  }
  await loadDue();
}

async function start() {
  applyI18n();
  if (!me) { $("point").textContent = t("请先回首页登录"); return; }
  try {
    point = (await api("GET", "/api/me/pickup-point")).pickup_point;
  } catch (e) { $("point").textContent = errText(e); return; }
  if (!point) { $("point").textContent = errText({ code: "not_bound" }); return; }
  $("point").textContent = [point.name, point.address, point.hours].filter(Boolean).join(" · ");
  $("code-form").onsubmit = confirm;
  $("code").oninput = () => { $("result").textContent = ""; renderPreview(); };
  await loadDue();
  setInterval(loadDue, 30000);  // new deliveries and collections by a colleague show up by themselves
}

largeTextToggle($("big-text"));
languageToggle($("lang"), () => { renderDue(); });
start();
