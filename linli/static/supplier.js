// The supplier's board: aggregated demand per product and pickup point, picking lists, the
// deadline, confirm and ship, CSV. The API it reads never carries a resident's identity.
import { $, api, authHeaders, largeTextToggle, yuan } from "/static/common.js";
import { applyI18n, dateText, errorText, has, languageToggle, show, t } from "/static/i18n.js";

const status = (s) => (has(`supplier.status.${s}`) ? t(`supplier.status.${s}`) : s);
let shown = [];
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };

function chart(order) {
  // One horizontal bar per product and pickup point, drawn with plain elements (no library).
  const rows = order.lines.flatMap((ln) => Object.entries(ln.by_pickup_point).map(([point, qty]) => ({ ln, point, qty })));
  const names = new Map(order.picking_lists.map((p) => [p.pickup_point_id, p.name]));
  const max = Math.max(1, ...rows.map((r) => r.qty));
  const figure = el("figure", undefined, "chart");
  figure.setAttribute("aria-label", t("supplier.chart_label"));
  for (const r of rows) {
    const row = el("div", undefined, "chart-row");
    row.append(el("span", `${r.ln.product_name} · ${names.get(r.point) || r.point}`, "chart-label"));
    const bar = el("span", undefined, "chart-bar");
    bar.style.width = `${Math.round((r.qty / max) * 100)}%`;
    row.append(bar, el("span", `${r.qty}${r.ln.unit}`, "chart-value"));
    figure.append(row);
  }
  return figure;
}

function render(orders) {
  shown = orders;
  if (orders.length) show($("status"), "supplier.n_orders", { n: orders.length }); else show($("status"), "supplier.no_orders");
  $("orders").replaceChildren(...orders.map((o) => {
    const card = el("section", undefined, "card");
    card.append(el("h2", t("supplier.order_title", { id: o.id, status: status(o.status) })));
    card.append(el("p", t("supplier.deliver_by", { when: dateText(o.deliver_by), total: yuan(o.total_cents) })));
    const table = el("table", undefined, "totals");
    table.append(el("caption", t("supplier.totals")));
    const head = el("tr"); ["product", "wished", "ordered", "surplus", "price", "amount"].forEach((h) => head.append(el("th", t(`supplier.col.${h}`))));
    table.append(head);
    for (const ln of o.lines) {
      const tr = el("tr", undefined, "line");
      [ln.product_name, `${ln.wished_qty}${ln.unit}`, `${ln.order_qty}${ln.unit}`, `${ln.surplus_qty}${ln.unit}`,
       yuan(ln.unit_price_cents), yuan(ln.total_cents)].forEach((v) => tr.append(el("td", v)));
      table.append(tr);
    }
    card.append(table, chart(o));
    card.append(el("h3", t("supplier.picking")));
    for (const p of o.picking_lists) {
      card.append(el("p", t("supplier.picking_line", { name: p.name, address: p.address || "—",
                                                     lines: p.lines.map((l) => `${l.product_name} ${l.qty}${l.unit}`).join(t("common.list_sep")) }), "picking"));
    }
    const actions = el("p");
    const next = { pending: ["confirm", "supplier.confirm"], confirmed: ["ship", "supplier.ship"] }[o.status];
    if (next) {
      const b = el("button", t(next[1])); b.type = "button";
      b.onclick = async () => { await api("POST", `/api/supplier/orders/${o.id}/${next[0]}`); load(); };
      actions.append(b, " ");
    }
    const csv = el("button", t("supplier.csv")); csv.type = "button";
    csv.onclick = async () => {
      const resp = await fetch(`/api/supplier/orders/${o.id}/picking.csv`, { headers: authHeaders() });
      const url = URL.createObjectURL(await resp.blob());
      const a = el("a"); a.href = url; a.download = `picking-${o.id}.csv`; a.click(); URL.revokeObjectURL(url);
    };
    actions.append(csv);
    card.append(actions);
    return card;
  }));
}

async function load() {
  try { render((await api("GET", "/api/supplier/orders")).orders); }
  catch (e) { $("status").textContent = t("supplier.load_failed", { why: errorText(e) }); }
}
applyI18n();
largeTextToggle($("big-text"));
languageToggle($("lang"), () => render(shown));
load();
