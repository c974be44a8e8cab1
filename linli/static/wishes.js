// The resident's wish list for one window: what each product still needs to make its group order,
// add, change or withdraw a wish until the cutoff; afterwards what became of each line and its hold.
import { $, api, el, largeTextToggle, localTime } from "/static/common.js";
import { applyI18n, errorText, lang, languageToggle, t } from "/static/i18n.js";
import { noticesInbox } from "/static/notices.js";
import { holdStateText, outcomeText, perUnit, progressLines } from "/static/wishing.js";

const wid = location.pathname.split("/").pop();
const FREE = "__free__";
let win = null;

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }

const products = () => new Map(win.products.map((p) => [p.id, p]));

/** A product's progress toward its minimum, as the window reports it, or null. */
function progressOf(p) {
  return p.progress || (win.progress || []).find((x) => x.product_id === p.id) || null;
}

function renderStatus() {
  const left = win.cutoff_at - Date.now();
  const when = localTime(win.cutoff_at, lang());
  let text;
  if (win.accepting) {
    text = t("wishes.cutoff_when_h_h",
               { when, h: Math.floor(left / 3600000), m: Math.floor((left % 3600000) / 60000) });
  } else if (win.status === "open" && Date.now() < win.opens_at) {
    text = t("wishes.wishes_open_when", { when: localTime(win.opens_at, lang()) });
  } else {
    text = t("wishes.closed_when_the_live",
               { when, live: localTime(win.live_at, lang()) });
  }
  $("status").textContent = text;
  $("to-live").href = `/live/${win.session_id}`;
  $("to-live").hidden = false;
  $("add-card").hidden = !win.accepting;
}

function renderProducts() {
  $("products").replaceChildren(...win.products.map((p) => {
    const li = el("li", undefined, "product");
    li.dataset.product = p.id;
    const text = el("div");
    text.append(el("strong", p.name));
    const pr = progressOf(p);
    if (pr) {
      for (const line of progressLines(p, pr)) text.append(el("div", line, "progress-line"));
      const bar = el("div", undefined, "meter");
      const fill = el("span");
      fill.style.width = `${Math.min(100, Math.round((pr.qty / Math.max(1, p.moq)) * 100))}%`;
      bar.append(fill);
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", t("wishes.progress_label", { w: pr.qty, moq: p.moq, unit: p.unit }));
      text.append(bar);
    } else {
      text.append(el("div", p.tiers.map((tier) => t("wishes.n_unit_price",
        { n: tier.min_qty, unit: p.unit, price: perUnit(tier.price_cents, p.unit) })).join(t("common.clause_sep")),
        "progress-line"));
    }
    li.append(text);
    if (win.accepting) {
      const b = el("button", t("wishes.i_want_it"));
      b.type = "button";
      b.onclick = () => { $("product").value = p.id; showTiers(); $("qty").focus(); };
      li.append(b);
    }
    return li;
  }));
}

function lineTitle(w, p) {
  const where = win.pickup_points.find((x) => x.id === w.pickup_point_id);
  const what = p ? `${p.name} ${w.qty}${p.unit}` : `${w.free_text} ${w.qty}`;
  return `${what} · ${where ? where.name : w.pickup_point_id}` + (w.proxy ? t("wishes.entered_by_the_grid") : "");
}

function renderMine() {
  const byId = products();
  const lines = win.my_wishes.filter((w) => w.status === "active");
  if (!lines.length) {
    $("mine").replaceChildren(el("li", win.accepting ? t("wishes.no_wishes_yet_choose") : t("wishes.no_wishes_this_time")));
    return;
  }
  $("mine").replaceChildren(...lines.map((w) => {
    const p = byId.get(w.product_id);
    const li = el("li", undefined, "wish");
    li.dataset.line = w.id;
    const body = el("div");
    body.append(el("span", lineTitle(w, p), "what"));
    if (w.outcome) {
      const o = w.outcome;
      const good = ["held", "partly_held"].includes(o.status);
      body.append(el("div", outcomeText(o, p, w), "outcome " + (good ? "ok" : "no")));
      // The line's state follows its hold: reserved -> confirmed, or released (and why).
      const hold = o.hold ? (o.hold.status === "released" && o.hold.why === "cancelled" ? "cancelled" : o.hold.status)
        : (good ? "reserved" : "");
      if (hold && good) body.append(el("div", holdStateText(hold), "hold-state " + hold));
      if (hold === "reserved" && o.hold && o.hold.release_at) {
        body.append(el("div", t("wishes.confirm_by_when", { when: localTime(o.hold.release_at, lang()) }), "conn"));
      }
      if (good && hold === "reserved") {
        const a = el("a", t("wishes.confirm_in_the_live"), "big-link");
        a.href = `/live/${win.session_id}`;
        body.append(a);
      }
    }
    li.append(body);
    if (win.accepting) {
      const actions = el("div", undefined, "actions");
      const edit = el("button", t("common.change"));
      edit.type = "button";
      edit.onclick = async () => {
        const qty = Number(prompt(t("common.new_quantity"), String(w.qty)));
        if (!(qty > 0)) return;
        try { await api("PATCH", `/api/wish-windows/${wid}/wishes/${w.id}`, { qty }); say(t("common.changed"), true); }
        catch (e) { say(errorText(e), false); }
        load();
      };
      const drop = el("button", t("common.remove"));
      drop.type = "button";
      drop.onclick = async () => {
        try { await api("DELETE", `/api/wish-windows/${wid}/wishes/${w.id}`); say(t("common.wish_removed"), true); }
        catch (e) { say(errorText(e), false); }
        load();
      };
      actions.append(edit, drop);
      li.append(actions);
    }
    return li;
  }));
}

function render() { renderStatus(); renderMine(); renderProducts(); showTiers(); }

function showTiers() {
  const free = $("product").value === FREE;
  $("free-row").hidden = !free;
  $("free-text").required = free;
  const p = win.products.find((x) => x.id === $("product").value);
  $("tiers").textContent = p ? t("wishes.group_prices") + p.tiers.map((tier) => t("wishes.n_unit_price",
    { n: tier.min_qty, unit: p.unit, price: perUnit(tier.price_cents, p.unit) })).join(t("common.clause_sep")) : "";
}

function fillForm() {
  const chosen = $("product").value;
  $("product").replaceChildren(...win.products.map((p) => new Option(t("common.paren", { a: p.name, b: p.unit }), p.id)),
                               new Option(t("wishes.something_else_write_it"), FREE));
  if (chosen) $("product").value = chosen;
  $("point").replaceChildren(...win.pickup_points.map((p) => new Option(p.name, p.id)));
  $("product").onchange = showTiers;
}

async function load() {
  try {
    win = await api("GET", `/api/wish-windows/${wid}`);
    if (!$("point").options.length) fillForm();
    render();
  } catch (e) { $("status").textContent = t("wishes.could_not_load") + errorText(e); }
}

$("add-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const free = $("product").value === FREE;
  const body = { qty: Number($("qty").value), pickup_point_id: $("point").value };
  if (free) body.free_text = $("free-text").value.trim(); else body.product_id = $("product").value;
  try {
    await api("POST", `/api/wish-windows/${wid}/wishes`, body);
    say(t("wishes.added_to_your_wishes"), true);
    load();
  } catch (e) { say(errorText(e), false); }
};

largeTextToggle($("big-text"));
const inbox = noticesInbox($("inbox"), $("notices"));
languageToggle($("lang"), () => { fillForm(); if (win) render(); inbox.render(); });
applyI18n();
inbox.reload();
load();
setInterval(() => win && renderStatus(), 30000);
setInterval(load, 60000);  // others' wishes move the progress; the cutoff decides the outcomes
