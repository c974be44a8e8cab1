// The host console's planning and insight card: schedule flashes ("next up" queue, cancel), the live
// chart (grabs per second, viewers, revenue; inline SVG, no library) and the after-live summary with
// its CSV download. host.js calls show(sid) when a session opens and onEvent(e) for the room's events.
import { $, api, authHeaders, el, fromLocalInput, localTime, toLocalInput, yuan } from "/static/common.js";
import { applyI18n, errorText, t } from "/static/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 560, H = 180, PAD = 24;
const SERIES = [  // what the chart draws, each against its own scale
  { key: "rate", label: "insight.rate", color: "#c62828" },
  { key: "viewers", label: "insight.viewers", color: "#1565c0" },
  { key: "revenue", label: "insight.revenue", color: "#2e7d32" },
];

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A line chart of the insight buckets as an inline SVG, one scale per series (its peak labelled). */
export function chartSvg(chart) {
  const pts = chart.points.map((p, i, all) => ({
    t: p.t, rate: p.grabs / chart.bucket_s, viewers: p.viewers,
    revenue: all.slice(0, i + 1).reduce((n, q) => n + q.revenue_cents, 0),
  }));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("insight.chart_label") });
  root.append(svg("line", { x1: PAD, y1: H - PAD, x2: W - 4, y2: H - PAD, stroke: "#999" }));
  if (pts.length === 0) {
    const note = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#555" });
    note.textContent = t("insight.empty");
    root.append(note);
    return root;
  }
  const x = (i) => PAD + (pts.length === 1 ? 0 : (i / (pts.length - 1)) * (W - PAD - 8));
  for (const s of SERIES) {
    const max = Math.max(1e-9, ...pts.map((p) => p[s.key]));
    const y = (v) => H - PAD - (v / max) * (H - 2 * PAD);
    root.append(svg("polyline", { points: pts.map((p, i) => `${x(i).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(" "),
                                  fill: "none", stroke: s.color, "stroke-width": 2, "data-series": s.key }));
  }
  // Each line has its own scale, so the top of each is said in words.
  const top = (key) => Math.max(...pts.map((p) => p[key]));
  const peaks = svg("text", { x: PAD, y: 14, fill: "#333", "font-size": 12 });
  peaks.textContent = t("insight.peaks", { rate: top("rate").toFixed(1), viewers: top("viewers"), revenue: yuan(top("revenue")) });
  root.append(peaks);
  const first = svg("text", { x: PAD, y: H - 6, fill: "#555", "font-size": 11 });
  first.textContent = localTime(pts[0].t);
  const last = svg("text", { x: W - 8, y: H - 6, fill: "#555", "font-size": 11, "text-anchor": "end" });
  last.textContent = localTime(pts[pts.length - 1].t);
  root.append(first, last);
  return root;
}

export function insightPanel() {
  let sid = null;
  const card = el("section", "", "card insight");
  card.id = "insight";
  card.hidden = true;
  card.innerHTML = `
    <h2 data-i18n="insight.title"></h2>
    <h3 data-i18n="insight.scheduled"></h3>
    <form id="plan-form">
      <label for="plan-item" data-i18n="insight.item"></label> <select id="plan-item"></select>
      <label for="plan-at" data-i18n="insight.starts_at"></label> <input id="plan-at" type="datetime-local" required>
      <label for="plan-seconds" data-i18n="insight.duration"></label> <input id="plan-seconds" type="number" value="60" min="1" required>
      <label for="plan-price" data-i18n="insight.price"></label> <input id="plan-price" type="number" min="0">
      <button type="submit" data-i18n="insight.queue_it"></button>
      <button type="button" id="plan-soon" data-i18n="insight.in_5_min"></button>
    </form>
    <h3 data-i18n="insight.next_up"></h3>
    <ul id="plan-queue" class="items"></ul>
    <h3 data-i18n="insight.trend"></h3>
    <p class="legend">${SERIES.map((s) => `<span class="${s.key}" data-i18n="${s.label}"></span>`).join("")}</p>
    <figure id="insight-chart"></figure>
    <p id="insight-totals" role="status"></p>
    <h3 data-i18n="insight.summary"></h3>
    <p><button type="button" id="summary-show" data-i18n="insight.show_summary"></button>
       <button type="button" id="summary-csv" data-i18n="insight.csv"></button></p>
    <div id="summary" class="scroll"></div>`;
  applyI18n(card);
  document.querySelector(".columns").append(card);

  const fail = (e) => { $("status").textContent = t("common.failed_prefix") + errorText(e); };
  const items = new Map();

  async function loadQueue() {
    const got = await api("GET", `/api/sessions/${sid}/flash-plans`);
    $("plan-queue").replaceChildren(...got.plans.map((p) => {
      const li = el("li", t("insight.plan_line", { when: localTime(p.starts_at), title: items.get(p.item_id)?.title || p.item_id, secs: p.duration_s })
                          + (p.price_cents != null ? ` · ${yuan(p.price_cents)}` : ""));
      const cancel = el("button", t("insight.cancel"));
      cancel.type = "button";
      cancel.onclick = () => api("DELETE", `/api/sessions/${sid}/flash-plans/${p.id}`).then(loadQueue, fail);
      li.append(cancel);
      return li;
    }));
    if (!got.plans.length) $("plan-queue").replaceChildren(el("li", t("insight.no_plans")));
  }

  async function loadChart() {
    const chart = await api("GET", `/api/sessions/${sid}/insight`);
    $("insight-chart").replaceChildren(chartSvg(chart));
    $("insight-totals").textContent = t("insight.totals", { grabs: chart.grabs, revenue: yuan(chart.revenue_cents),
                                                          peak: chart.peak_viewers, now: chart.viewers_now });
  }

  async function showSummary() {
    const s = await api("GET", `/api/sessions/${sid}/summary`);
    const table = el("table", "", "totals");
    const head = el("tr");
    for (const h of ["item", "grabbed", "orders", "held", "prizes", "buyers", "revenue"]) head.append(el("th", t(`insight.col.${h}`)));
    table.append(head);
    for (const i of s.items) {
      const tr = el("tr");
      for (const v of [i.title, `${i.grabbed}${i.unit}`, i.grab_orders, i.held, i.prizes, i.buyers, yuan(i.revenue_cents)]) tr.append(el("td", String(v)));
      table.append(tr);
    }
    const box = $("summary");
    box.replaceChildren(table,
      el("p", t("insight.sales", { orders: s.orders, buyers: s.buyers, revenue: yuan(s.revenue_cents) })),
      el("p", t("insight.conversion", { unique: s.unique_viewers, peak: s.peak_viewers, pct: s.conversion_pct })));
    if (s.lucky_bags.length) {
      const ul = el("ul");
      for (const b of s.lucky_bags) {
        const li = el("li", t("insight.bag_line", { title: b.title, entrants: b.entrants, winners: b.winners }));
        const a = el("a", t("insight.check")); a.href = b.audit;
        li.append(a); ul.append(li);
      }
      box.append(ul);
    }
  }

  async function downloadCsv() {
    // The token travels in the header, never the URL, so the file is fetched and handed over as a blob.
    const res = await fetch(`/api/sessions/${sid}/summary.csv`, { headers: authHeaders() });
    if (!res.ok) { fail({ message: `HTTP ${res.status}` }); return; }
    const a = el("a");
    a.href = URL.createObjectURL(await res.blob());
    a.download = t("insight.csv_name", { sid });
    document.body.append(a); a.click(); a.remove();
  }

  $("plan-form").onsubmit = (ev) => {
    ev.preventDefault();
    const price = $("plan-price").value;
    api("POST", `/api/sessions/${sid}/flash-plans`, {
      item_id: $("plan-item").value, starts_at: fromLocalInput($("plan-at").value),
      duration_s: Number($("plan-seconds").value), ...(price !== "" ? { price_cents: Number(price) } : {}),
    }).then(loadQueue, fail);
  };
  $("plan-soon").onclick = () => { $("plan-at").value = toLocalInput(Date.now() + 5 * 60 * 1000); };
  $("summary-show").onclick = () => showSummary().catch(fail);
  $("summary-csv").onclick = () => downloadCsv().catch(fail);
  setInterval(() => { if (sid && !card.hidden) loadChart().catch(() => {}); }, 5000);

  return {
    async show(newSid, sessionItems) {
      sid = newSid;
      card.hidden = !sid;
      if (!sid) return;
      items.clear();
      for (const i of sessionItems) items.set(i.id, i);
      $("plan-item").replaceChildren(...[...items.values()].map((i) => { const o = el("option", t("insight.item_option", { n: i.id.slice(1), title: i.title })); o.value = i.id; return o; }));
      if (!$("plan-at").value) $("plan-at").value = toLocalInput(Date.now() + 5 * 60 * 1000);
      await Promise.all([loadQueue(), loadChart()]).catch(fail);
    },
    onEvent(e) {
      if (!sid) return;
      if (e.type === "item_added") { items.set(e.item.id, e.item); this.show(sid, [...items.values()]); }
      if (["flash_scheduled", "flash_plan_cancelled", "flash_started"].includes(e.type)) loadQueue().catch(() => {});
      if (e.type === "session_ended") showSummary().catch(() => {});
    },
  };
}
