// The supplier's board: aggregated demand per product and pickup point, picking lists, the
// deadline, confirm and ship, CSV. The API it reads never carries a resident's identity.
import { $, api, authHeaders, yuan } from "/static/common.js";

const STATUS = { pending: "待确认", confirmed: "已确认", shipped: "已发货" };
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };

function chart(order) {
  // One horizontal bar per product and pickup point, drawn with plain elements (no library).
  const rows = order.lines.flatMap((ln) => Object.entries(ln.by_pickup_point).map(([point, qty]) => ({ ln, point, qty })));
  const names = new Map(order.picking_lists.map((p) => [p.pickup_point_id, p.name]));
  const max = Math.max(1, ...rows.map((r) => r.qty));
  const figure = el("figure", undefined, "chart");
  figure.setAttribute("aria-label", "各自提点需求");
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
  $("status").textContent = orders.length ? `${orders.length} 张订单` : "暂无订单";
  $("orders").replaceChildren(...orders.map((o) => {
    const card = el("section", undefined, "card");
    card.append(el("h2", `订单 ${o.id} · ${STATUS[o.status] || o.status}`));
    card.append(el("p", `送达截止：${new Date(o.deliver_by).toLocaleString("zh-CN")} · 合计 ${yuan(o.total_cents)}`));
    const table = el("table", undefined, "totals");
    table.append(el("caption", "各商品汇总"));
    const head = el("tr"); ["商品", "需求", "下单", "富余", "单价", "金额"].forEach((h) => head.append(el("th", h)));
    table.append(head);
    for (const ln of o.lines) {
      const tr = el("tr", undefined, "line");
      [ln.product_name, `${ln.wished_qty}${ln.unit}`, `${ln.order_qty}${ln.unit}`, `${ln.surplus_qty}${ln.unit}`,
       yuan(ln.unit_price_cents), yuan(ln.total_cents)].forEach((v) => tr.append(el("td", v)));
      table.append(tr);
    }
    card.append(table, chart(o));
    card.append(el("h3", "分拣单（按自提点）"));
    for (const p of o.picking_lists) {
      card.append(el("p", `${p.name}（${p.address || "—"}）：` + p.lines.map((l) => `${l.product_name} ${l.qty}${l.unit}`).join("，"), "picking"));
    }
    const actions = el("p");
    const next = { pending: ["confirm", "确认接单"], confirmed: ["ship", "已发货"] }[o.status];
    if (next) {
      const b = el("button", next[1]); b.type = "button";
      b.onclick = async () => { await api("POST", `/api/supplier/orders/${o.id}/${next[0]}`); load(); };
      actions.append(b, " ");
    }
    const csv = el("button", "下载分拣单 CSV"); csv.type = "button";
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
  catch (e) { $("status").textContent = "加载失败：" + e.message; }
}
load();
