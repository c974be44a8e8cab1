// The resident's wish list for one window: add, change, withdraw until the cutoff; outcomes after.
import { $, api, largeTextToggle, yuan } from "/static/common.js";

const wid = location.pathname.split("/").pop();
const OUTCOMES = { held: "已为您预留，直播间里一键确认", partly_held: "部分预留", not_viable: "未成团",
                   shortfall: "供应不足", not_in_catalog: "暂无此商品，已记录需求" };
let window_ = null;

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }

function render() {
  const products = new Map(window_.products.map((p) => [p.id, p]));
  const points = new Map(window_.pickup_points.map((p) => [p.id, p]));
  const left = window_.cutoff_at - Date.now();
  $("status").textContent = window_.accepting
    ? `截单还有 ${Math.floor(left / 3600000)} 小时 ${Math.floor((left % 3600000) / 60000)} 分钟`
    : "已截单";
  $("add").disabled = !window_.accepting;
  $("mine").replaceChildren(...window_.my_wishes.filter((w) => w.status === "active").map((w) => {
    const li = document.createElement("li");
    const p = products.get(w.product_id);
    const what = p ? `${p.name} ${w.qty}${p.unit}` : `${w.free_text} ${w.qty}`;
    const where = points.get(w.pickup_point_id);
    const span = document.createElement("span");
    span.textContent = `${what} · ${where ? where.name : w.pickup_point_id}` + (w.proxy ? "（网格员代填）" : "")
      + (w.outcome ? ` · ${OUTCOMES[w.outcome.status] || w.outcome.status}${w.outcome.reason ? "：" + w.outcome.reason : ""}` : "");
    li.append(span);
    if (window_.accepting) {
      const edit = document.createElement("button");
      edit.type = "button"; edit.textContent = "改数量";
      edit.onclick = async () => {
        const qty = Number(prompt("新的数量", String(w.qty)));
        if (qty > 0) { await api("PATCH", `/api/wish-windows/${wid}/wishes/${w.id}`, { qty }).catch((e) => say(e.message)); load(); }
      };
      const drop = document.createElement("button");
      drop.type = "button"; drop.textContent = "不要了";
      drop.onclick = async () => { await api("DELETE", `/api/wish-windows/${wid}/wishes/${w.id}`); load(); };
      li.append(edit, drop);
    }
    return li;
  }));
}

function fillForm() {
  $("product").replaceChildren(...window_.products.map((p) => new Option(`${p.name}（${p.unit}）`, p.id)));
  $("point").replaceChildren(...window_.pickup_points.map((p) => new Option(p.name, p.id)));
  const showTiers = () => {
    const p = window_.products.find((x) => x.id === $("product").value);
    $("tiers").textContent = p ? "团购价：" + p.tiers.map((t) => `满${t.min_qty}${p.unit} ${yuan(t.price_cents)}/${p.unit}`).join("，") : "";
  };
  $("product").onchange = showTiers;
  showTiers();
}

async function load() {
  try {
    window_ = await api("GET", `/api/wish-windows/${wid}`);
    if (!$("product").options.length) fillForm();
    render();
  } catch (e) { $("status").textContent = "加载失败：" + e.message; }
}

$("add-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", `/api/wish-windows/${wid}/wishes`,
              { product_id: $("product").value, qty: Number($("qty").value), pickup_point_id: $("point").value });
    say("已加入心愿单", true);
    load();
  } catch (e) { say(e.message, false); }
};
largeTextToggle($("big-text"));
load();
setInterval(() => window_ && render(), 30000);
