// The host console before the live: open the session's wish window (times in local time, with
// the delivery check), watch demand per product, read free-text signals, import a 接龙, close the
// window now, and see the supplier orders and holds the cutoff made.
import { $, api, el, fromLocalInput, localTime, toLocalInput, yuan } from "/static/common.js";
import { chainImporter } from "/static/chain.js";
import { errorText, show, t } from "/static/i18n.js";
import { perUnit, tierFor } from "/static/wishing.js";

const HOUR = 3600 * 1000;
const STATUS = { open: "host-window.status.open", closed: "host-window.status.closed", aggregated: "host-window.status.aggregated",
                 released: "host-window.status.released" };
const HOLD = { reserved: "host-window.hold.reserved", confirmed: "host-window.hold.confirmed", released: "host-window.hold.released",
               cancelled: "host-window.hold.cancelled" };
const WARNINGS = {
  delivery_after_live: "host-window.warnings.delivery_after_live",
};

/** Every order of one kind in a session: the route answers a page at a time (at most 500). */
async function allOrders(sid, kind) {
  const orders = [];
  let after = null;
  do {
    const page = await api("GET", `/api/sessions/${sid}/orders?kind=${kind}&limit=500` +
                                  (after ? `&after=${encodeURIComponent(after)}` : ""));
    orders.push(...page.orders);
    after = page.next_after;
  } while (after);
  return orders;
}

export function windowPanel(status) {
  const state = { sid: null, me: null, win: null, catalog: [], people: new Map(), timer: 0 };
  const product = (id) => state.catalog.find((p) => p.id === id);

  function fail(e) { status(t("common.failed_prefix") + errorText(e)); }

  /** Suppliers deliver lead_time_hours after the cutoff: warn when that is after the live. */
  function deadlineCheck() {
    const live = fromLocalInput($("live-at").value), cutoff = fromLocalInput($("cutoff-at").value);
    if (Number.isNaN(live) || Number.isNaN(cutoff)) { $("deadline-check").textContent = ""; return; }
    const late = state.catalog.filter((p) => cutoff + p.lead_time_hours * HOUR > live);
    $("deadline-check").textContent = cutoff <= Date.now() ? t("host-window.cutoff_passed")
      : late.length ? t("host-window.note_names_need_hours",
                          { names: late.map((p) => p.name).join(t("common.enum_sep")), hours: Math.max(...late.map((p) => p.lead_time_hours)) })
      : t("host-window.delivery_in_time");
  }

  function defaults() {
    // The whole hour two days ahead, wishes open from today (3 days before), cutoff 12 h before the
    // live so suppliers can deliver, unconfirmed holds released 30 min into it.
    const live = Math.ceil((Date.now() + 2 * 24 * HOUR) / HOUR) * HOUR;
    $("live-at").value = toLocalInput(live);
    $("cutoff-at").value = toLocalInput(live - 12 * HOUR);
    $("release-at").value = toLocalInput(live + HOUR / 2);
    deadlineCheck();
  }

  function warningText(w) {
    const params = { ...w.params };
    for (const k of ["deliver_by", "live_at", "cutoff_at", "latest_cutoff"]) if (params[k]) params[k] = localTime(params[k]);
    if (params.product_id && !params.product) params.product = (product(params.product_id) || {}).name || params.product_id;
    return WARNINGS[w.code] ? t(WARNINGS[w.code], params) : t("host-window.note_code", { code: w.code });
  }

  function renderWindow() {
    const w = state.win;
    $("window-form").hidden = Boolean(w) || !state.sid;
    $("window-info").hidden = !w;
    $("window-none").hidden = Boolean(state.sid);
    if (!w) return;
    $("window-times").textContent = t("host-window.window_line", {
      id: w.id, status: t(STATUS[w.status] || w.status), opens: localTime(w.opens_at), cutoff: localTime(w.cutoff_at),
      live: localTime(w.live_at), release: localTime(w.hold_release_at) });
    $("window-warnings").replaceChildren(...(w.warnings || []).map((x) => el("li", warningText(x))));
    $("window-link").href = `/wishes/${w.id}`;
    $("close-now").hidden = w.status !== "open";
    $("chain-box").hidden = !w.accepting;
    $("cutoff-box").hidden = w.status === "open";
  }

  function demandRow(d) {
    const p = product(d.product_id) || { name: d.name || d.product_id, unit: d.unit || "", moq: d.moq || 0,
                                         case_size: d.case_size || 1, capacity: d.capacity || 0, tiers: [{ min_qty: 0, price_cents: 0 }] };
    const wished = d.qty;
    const missing = d.missing_to_moq ?? Math.max(0, p.moq - wished);
    // Whole cases, capped at what the supplier can deliver (whole cases too).
    const cased = d.order_qty ?? (missing > 0 ? 0 : Math.min(Math.ceil(wished / p.case_size) * p.case_size,
                                                              Math.floor(p.capacity / p.case_size) * p.case_size));
    const tier = d.price_cents !== undefined ? { price_cents: d.price_cents } : tierFor(p, cased || wished);
    const tr = el("tr", undefined, "line");
    tr.dataset.product = d.product_id;
    for (const v of [p.name, `${wished} / ${p.moq}${p.unit}`, missing > 0 ? `${missing}${p.unit}` : t("common.group_order_reached"),
                     cased ? t("host-window.cases", { n: cased, unit: p.unit, cases: cased / p.case_size, size: p.case_size }) : "—",
                     `${d.capacity ?? p.capacity}${p.unit}`, perUnit(tier.price_cents, p.unit), String(d.wishers)]) {
      tr.append(el("td", v));
    }
    if (missing > 0) tr.classList.add("short");
    return tr;
  }

  async function renderDemand() {
    if (!state.win) return;
    const demand = await api("GET", `/api/wish-windows/${state.win.id}/demand`);
    $("demand").replaceChildren(...(demand.products.length ? demand.products.map(demandRow)
      : [el("tr", t("host-window.no_wishes_yet"))]));
    $("signals").replaceChildren(...(demand.free_text.length
      ? demand.free_text.map((f) => el("li", t("host-window.free_text_wish", { text: f.text, n: f.wishes })))
      : [el("li", t("common.none_yet"))]));
  }

  async function renderCutoff(summary) {
    if (!state.win || state.win.status === "open") return;
    if (summary) {
      $("cutoff-summary").textContent = t("host-window.cutoff_summary",
        { orders: summary.supplier_orders, held: summary.held, nv: summary.not_viable });
    }
    const orders = (await api("GET", `/api/wish-windows/${state.win.id}/supplier-orders`)).orders;
    $("supplier-orders").replaceChildren(...orders.flatMap((o) => o.lines.map((ln) => {
      const tr = el("tr", undefined, "line");
      for (const v of [o.supplier_name || o.supplier_id, ln.product_name, `${ln.wished_qty}${ln.unit}`, `${ln.order_qty}${ln.unit}`,
                       `${ln.surplus_qty ?? ln.order_qty - ln.wished_qty}${ln.unit}`, yuan(ln.unit_price_cents), localTime(o.deliver_by), o.status]) {
        tr.append(el("td", v));
      }
      return tr;
    })));
    const holds = await allOrders(state.win.session_id, "hold");
    const items = new Map((await api("GET", `/api/sessions/${state.win.session_id}`)).items.map((i) => [i.id, i]));
    $("holds").replaceChildren(...holds.map((o) => {
      const tr = el("tr", undefined, "line");
      const item = items.get(o.item_id);
      const who = state.people.get(o.user_id);
      for (const v of [who ? who.name : o.user_id, item ? item.title : o.item_id, `${o.qty}${item ? item.unit : ""}`, t(HOLD[o.status] || o.status)]) {
        tr.append(el("td", v));
      }
      return tr;
    }));
  }

  async function loadWindows() {
    const data = await api("GET", `/api/communities/${state.me.community_id}/wish-windows`);
    const windows = data.windows || [];
    $("windows").replaceChildren(...windows.map((w) => {
      const li = el("li");
      const a = el("a", t("host-window.window_link", { title: w.session_title || w.session_id, live: localTime(w.live_at), status: t(STATUS[w.status] || w.status) }));
      a.href = `/host?session=${w.session_id}`;
      li.append(a);
      return li;
    }));
    return windows;
  }

  async function refresh(summary) {
    try {
      const windows = await loadWindows();
      const mine = windows.find((w) => w.session_id === state.sid);
      state.win = mine ? await api("GET", `/api/wish-windows/${mine.id}`) : null;
      if (mine && state.win) state.win = { ...mine, ...state.win };
      renderWindow();
      if (state.win) {
        $("host-chain-point").replaceChildren(...state.win.pickup_points.map((p) => new Option(p.name, p.id)));
        await renderDemand();
        await renderCutoff(summary);
      }
    } catch (e) { fail(e); }
  }

  $("window-form").onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const created = await api("POST", "/api/wish-windows", {
        session_id: state.sid, live_at: fromLocalInput($("live-at").value), cutoff_at: fromLocalInput($("cutoff-at").value),
        hold_release_at: fromLocalInput($("release-at").value), open_days_before: Number($("open-days").value) });
      status(t("host-window.window_created"));
      await refresh();
      if (created.warnings && state.win) { state.win.warnings = created.warnings; renderWindow(); }
    } catch (e) { fail(e); }
  };
  for (const id of ["live-at", "cutoff-at"]) $(id).oninput = deadlineCheck;
  $("close-now").onclick = async () => {
    if (!confirm(t("host-window.confirm_cutoff"))) return;
    try {
      const summary = await api("POST", `/api/wish-windows/${state.win.id}/close`);
      status(t("host-window.closed"));
      await refresh(summary);
    } catch (e) { fail(e); }
  };
  chainImporter({
    textarea: $("host-chain"), pointSelect: $("host-chain-point"), button: $("host-chain-go"), box: $("host-review"),
    windowId: () => state.win.id,
    describe: (w) => { const p = product(w.product_id); return `${(state.people.get(w.resident_id) || {}).name || w.resident_id} · ${p ? p.name : w.product_id} ${w.qty}${p ? p.unit : ""}`; },
    onImported: () => renderDemand().catch(fail),
  });

  return {
    async show(sid) {
      state.sid = sid;
      try {
        state.me = state.me || await api("GET", "/api/me");
        state.catalog = (await api("GET", "/api/products")).products;
        const people = await api("GET", `/api/communities/${state.me.community_id}/residents`);
        state.people = new Map(people.residents.map((r) => [r.id, r]));
      } catch (e) { fail(e); }
      defaults();
      await refresh();
      clearInterval(state.timer);
      state.timer = setInterval(() => state.win && state.win.status === "open" && renderDemand().catch(() => {}), 10000);
    },
  };
}
