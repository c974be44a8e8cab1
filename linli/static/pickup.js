// The pickup counter: staff type a code (or a scanner types its QR), see whose orders it collects
// and confirm; below, what is due at this point today and the "delivery arrived" button.
import { $, api, el, largeTextToggle, whoAmI } from "/static/common.js";
import { applyI18n, errorText, languageToggle, show, showError, t } from "/static/i18n.js";

// What the counter meets, in plain words (the common table knows the rest).
const ERRORS = {
  unknown_code: "pickup.errors.unknown_code",
  bad_code: "pickup.errors.bad_code",
  already_collected: "pickup.errors.already_collected",
  expired: "pickup.errors.expired",
  other_point: "pickup.errors.other_point",
  rate_limited: "pickup.errors.rate_limited",
  not_bound: "pickup.errors.not_bound",
};
const STATUS = { waiting: "pickup.status.waiting", ready: "pickup.status.ready" };

const me = whoAmI();
let point = null;
let due = [];

function errText(e, wait) {
  const known = ERRORS[e && e.code];
  return known ? t(known, { wait: wait || 60 }) : errorText(e);
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
                el("span", t(STATUS[p.status] || p.status), "tag " + p.status));
    li.append(line, el("p", p.orders.map(orderLine).join(t("common.list_sep")), "what"));
    return li;
  }) : [el("li", t("pickup.nothing_due"))]));
  // One "arrived" button per session whose goods are still on their way.
  const waiting = [...new Set(due.filter((p) => p.status === "waiting").map((p) => p.session_id))];
  $("deliveries").replaceChildren(...waiting.map((sid) => {
    const b = el("button", t("pickup.this_delivery_arrived_n",
                             { n: due.filter((p) => p.session_id === sid && p.status === "waiting").length }), "arrived");
    b.type = "button";
    b.onclick = async () => {
      b.disabled = true;
      try {
        const done = await api("POST", `/api/pickup-points/${point.id}/deliveries`, { session_id: sid });
        say(t("pickup.arrived_n_residents_can", { n: done.pickups }), true);
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
  if (!raw) { say(t("pickup.type_the_code"), false); return; }
  $("confirm").disabled = true;
  try {
    const done = await api("POST", `/api/pickup-points/${point.id}/collect`, { code: raw });
    say(t("pickup.collected_name", { name: done.pickup.name }), true);
    const li = el("li", t("common.label_value", { label: done.pickup.name, value: done.orders.map(orderLine).join(t("common.list_sep")) }));
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
  if (!me) { show($("point"), "common.sign_in_first"); return; }
  try {
    point = (await api("GET", "/api/me/pickup-point")).pickup_point;
  } catch (e) { $("point").textContent = errText(e); return; }
  if (!point) { showError($("point"), { code: "not_bound" }, ERRORS); return; }
  $("point").textContent = [point.name, point.address, point.hours].filter(Boolean).join(" · ");
  $("code-form").onsubmit = confirm;
  $("code").oninput = () => { $("result").textContent = ""; renderPreview(); };
  await loadDue();
  setInterval(loadDue, 30000);  // new deliveries and collections by a colleague show up by themselves
}

largeTextToggle($("big-text"));
languageToggle($("lang"), () => { renderDue(); });
start();
