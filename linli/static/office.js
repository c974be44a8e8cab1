// The community office (the community's admin): take fee vouchers, record what the fund spends,
// offer rewards for points, set the community's rates, and see the orders nobody collected.
import { $, api, el, largeTextToggle, localTime, whoAmI, yuan } from "/static/common.js";
import { errorText, fmt } from "/static/i18n.js";

const me = whoAmI();
// An operator, who acts everywhere, names the community: /office?community=c1.
const cid = (me && me.community_id) || new URLSearchParams(location.search).get("community") || "";
const base = `/api/communities/${encodeURIComponent(cid)}`;
let balance = 0;

const REFUSALS = {
  fund_overdrawn: () => fmt(["会超支：基金只有 {b}", "That would overdraw the fund: it holds {b}"], { b: yuan(balance) }),
  already_used: () => fmt(["这张券已经用过了，不能再抵", "This voucher was used already"]),
  unknown_voucher: () => fmt(["没有这张券，请核对号码", "No such voucher: check the code"]),
  reward_exists: () => fmt(["已经有这个奖品了", "That reward exists already"]),
  unknown_reward: () => fmt(["找不到这个奖品", "No such reward"]),
};
const refusal = (e) => (REFUSALS[e.code] ? REFUSALS[e.code]() : errorText(e));

function say(id, text, ok) { $(id).textContent = text; $(id).className = "result " + (ok ? "ok" : "no"); }

/** Yuan as typed ("12.5") in cents, or NaN. */
function cents(text) {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? Math.round(n * 100) : NaN;
}

const newId = (prefix) => prefix + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

async function loadFund() {
  const report = await api("GET", `${base}/fund`);
  balance = report.balance_cents;
  $("fund-balance").textContent = yuan(balance);
  $("title").textContent = `${report.name} · 社区办公室`;
}

async function loadRewards() {
  const { rewards } = await api("GET", `${base}/rewards?all=1`);
  $("reward-list").replaceChildren(...(rewards.length ? rewards.map((r) => {
    const li = el("li", undefined, "reward");
    li.dataset.reward = r.id;
    const what = el("div", undefined, "what");
    what.append(el("strong", r.title + (r.active ? "" : "（已下架）")));
    const worth = r.kind === "fee_offset" ? `抵物业费 ${yuan(r.value_cents)}` : "实物";
    what.append(el("div", `${r.points} 积分 · ${worth} · ${r.stock === null ? "不限量" : `剩 ${r.stock} 份`}`, "when"));
    const b = el("button", r.active ? "下架" : "重新上架");
    b.type = "button";
    b.onclick = async () => {
      try { await api("PATCH", `${base}/rewards/${encodeURIComponent(r.id)}`, { active: !r.active }); }
      catch (e) { say("reward-result", refusal(e), false); }
      loadRewards();
    };
    li.append(what, b);
    return li;
  }) : [el("li", "还没有奖品", "empty")]));
}

async function loadRates() {
  const r = await api("GET", `${base}/settings`);
  $("rate-points").value = r.points_per_yuan;
  $("rate-share").value = r.fund_share_bp / 100;
  $("rate-days").value = r.pickup_days;
}

async function loadExpired() {
  let orders = [];
  try {
    ({ orders } = await api("GET", `${base}/expired-orders`));
  } catch (e) {
    if (e.status !== 404) throw e;  // 404: the list is not served here yet, so there is none to show
  }
  $("expired").replaceChildren(...(orders.length ? orders.map((o) => {
    const li = el("li");
    li.dataset.order = o.id;
    const what = el("div", undefined, "what");
    what.append(el("strong", `${o.name || o.user_id} · ${o.title || o.item_id} × ${o.qty}`));
    const when = o.expired_at ? ` · ${localTime(o.expired_at)} 过期` : "";
    what.append(el("span", `自提点 ${o.pickup_point_id || "—"} · 取货码 ${o.pickup_code || "—"}${when}`, "when"));
    li.append(what);
    return li;
  }) : [el("li", "暂无", "empty")]));
}

$("voucher-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    const v = await api("POST", `${base}/vouchers/verify`, { code: $("voucher-code").value });
    say("voucher-result", `有效，已核销：${v.resident_name} · ${v.title} · 抵 ${yuan(v.value_cents)}`, true);
    $("voucher-code").value = "";
  } catch (e) { say("voucher-result", refusal(e), false); }
};

$("spend-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const amount = cents($("spend-yuan").value);
  if (Number.isNaN(amount)) { say("spend-result", "金额要大于 0", false); return; }
  try {
    await api("POST", `${base}/fund/spending`, { project: $("spend-project").value.trim(), amount_cents: amount,
                                                 note: $("spend-note").value.trim(), request_id: newId("s") });
    say("spend-result", `已记下：${$("spend-project").value.trim()} ${yuan(amount)}`, true);
    $("spend-form").reset();
  } catch (e) { say("spend-result", refusal(e), false); }
  loadFund().catch(() => {});
};

$("reward-kind").onchange = () => {
  const fee = $("reward-kind").value === "fee_offset";
  $("value-row").hidden = !fee;
  $("reward-yuan").required = fee;
};

$("reward-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const kind = $("reward-kind").value;
  const body = { id: newId("rw"), title: $("reward-name").value.trim(), points: Number($("reward-points").value), kind };
  if (kind === "fee_offset") {
    body.value_cents = cents($("reward-yuan").value);
    if (Number.isNaN(body.value_cents)) { say("reward-result", "请填写抵多少物业费", false); return; }
  }
  if ($("reward-stock").value !== "") body.stock = Number($("reward-stock").value);
  try {
    await api("POST", `${base}/rewards`, body);
    say("reward-result", `已上架：${body.title}`, true);
    $("reward-form").reset();
    $("reward-kind").onchange();
  } catch (e) { say("reward-result", refusal(e), false); }
  loadRewards().catch(() => {});
};

$("rates-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    await api("PATCH", `${base}/settings`, { points_per_yuan: Number($("rate-points").value),
                                             fund_share_bp: Math.round(Number($("rate-share").value) * 100),
                                             pickup_days: Number($("rate-days").value) });
    say("rates-result", "规则已保存，以后收货的订单按新规则算", true);
  } catch (e) { say("rates-result", refusal(e), false); }
};

largeTextToggle($("big-text"));
$("to-fund").href = `/fund/${encodeURIComponent(cid)}`;
if (!cid) {
  $("status").textContent = "请用社区管理员的账号登录";
  $("status").className = "result no";
} else {
  Promise.all([loadFund(), loadRewards(), loadRates(), loadExpired()])
    .then(() => { $("status").textContent = ""; })
    .catch((e) => { $("status").textContent = errorText(e); $("status").className = "result no"; });
}
