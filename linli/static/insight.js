// The host console's planning and insight card: schedule flashes ("next up" queue, cancel), the live
// chart (grabs per second, viewers, revenue; inline SVG, no library) and the after-live summary with
// its CSV download. host.js calls show(sid) when a session opens and onEvent(e) for the room's events.
import { $, api, authHeaders, el, fromLocalInput, localTime, toLocalInput, yuan } from "/static/common.js";
import { errorText } from "/static/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 560, H = 180, PAD = 24;
const SERIES = [  // what the chart draws, each against its own scale
  { key: "rate", label: "每秒抢购", color: "#c62828" },
  { key: "viewers", label: "在线人数", color: "#1565c0" },
  { key: "revenue", label: "累计销售额", color: "#2e7d32" },
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
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "抢购、在线人数和销售额走势" });
  root.append(svg("line", { x1: PAD, y1: H - PAD, x2: W - 4, y2: H - PAD, stroke: "#999" }));
  if (pts.length === 0) {
    const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#555" });
    t.textContent = "开播后这里画出抢购、在线人数和销售额";
    root.append(t);
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
  peaks.textContent = `最高：每秒抢购 ${top("rate").toFixed(1)} · 在线 ${top("viewers")} 人 · 销售额 ${yuan(top("revenue"))}`;
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
    <h2>秒杀排期与直播数据</h2>
    <h3>定时秒杀</h3>
    <form id="plan-form">
      <label for="plan-item">商品</label> <select id="plan-item"></select>
      <label for="plan-at">开始时间</label> <input id="plan-at" type="datetime-local" required>
      <label for="plan-seconds">时长(秒)</label> <input id="plan-seconds" type="number" value="60" min="1" required>
      <label for="plan-price">秒杀价(分，可空)</label> <input id="plan-price" type="number" min="0">
      <button type="submit">排进队列</button>
      <button type="button" id="plan-soon">5 分钟后开始</button>
    </form>
    <h3>接下来</h3>
    <ul id="plan-queue" class="items"></ul>
    <h3>直播走势</h3>
    <p class="legend">${SERIES.map((s) => `<span class="${s.key}">${s.label}</span>`).join("")}</p>
    <figure id="insight-chart"></figure>
    <p id="insight-totals" role="status"></p>
    <h3>直播总结</h3>
    <p><button type="button" id="summary-show">看总结</button> <button type="button" id="summary-csv">下载表格(CSV)</button></p>
    <div id="summary" class="scroll"></div>`;
  document.querySelector(".columns").append(card);

  const fail = (e) => { $("status").textContent = "出错了：" + errorText(e); };
  const items = new Map();

  async function loadQueue() {
    const got = await api("GET", `/api/sessions/${sid}/flash-plans`);
    $("plan-queue").replaceChildren(...got.plans.map((p) => {
      const li = el("li", `${localTime(p.starts_at)} · ${items.get(p.item_id)?.title || p.item_id} · ${p.duration_s} 秒`
                          + (p.price_cents != null ? ` · ${yuan(p.price_cents)}` : ""));
      const cancel = el("button", "取消");
      cancel.type = "button";
      cancel.onclick = () => api("DELETE", `/api/sessions/${sid}/flash-plans/${p.id}`).then(loadQueue, fail);
      li.append(cancel);
      return li;
    }));
    if (!got.plans.length) $("plan-queue").replaceChildren(el("li", "还没有排好的秒杀"));
  }

  async function loadChart() {
    const chart = await api("GET", `/api/sessions/${sid}/insight`);
    $("insight-chart").replaceChildren(chartSvg(chart));
    $("insight-totals").textContent = `共抢购 ${chart.grabs} 次 · 销售额 ${yuan(chart.revenue_cents)} · 最多 ${chart.peak_viewers} 人同时在线 · 现在 ${chart.viewers_now} 人`;
  }

  async function showSummary() {
    const s = await api("GET", `/api/sessions/${sid}/summary`);
    const table = el("table", "", "totals");
    const head = el("tr");
    for (const h of ["商品", "已抢", "订单", "预留", "奖品", "买家", "销售额"]) head.append(el("th", h));
    table.append(head);
    for (const i of s.items) {
      const tr = el("tr");
      for (const v of [i.title, `${i.grabbed}${i.unit}`, i.grab_orders, i.held, i.prizes, i.buyers, yuan(i.revenue_cents)]) tr.append(el("td", String(v)));
      table.append(tr);
    }
    const box = $("summary");
    box.replaceChildren(table,
      el("p", `${s.orders} 单 · ${s.buyers} 位买家 · 销售额 ${yuan(s.revenue_cents)}`),
      el("p", `来过直播间 ${s.unique_viewers} 人，最多同时 ${s.peak_viewers} 人，下单转化 ${s.conversion_pct}%`));
    if (s.lucky_bags.length) {
      const ul = el("ul");
      for (const b of s.lucky_bags) {
        const li = el("li", `${b.title}：${b.entrants} 人参与，${b.winners} 人中奖 `);
        const a = el("a", "查看开奖公证"); a.href = b.audit;
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
    a.download = `直播总结-${sid}.csv`;
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
      $("plan-item").replaceChildren(...[...items.values()].map((i) => { const o = el("option", `${i.id.slice(1)}号 ${i.title}`); o.value = i.id; return o; }));
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
