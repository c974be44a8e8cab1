// The community office (the community's admin): take fee vouchers, record what the fund spends,
// offer rewards for points, set the community's rates, and see the orders nobody collected.
import { $, api, el, largeTextToggle, localTime, whoAmI, yuan } from "/static/common.js";
import { applyI18n, errorText, languageToggle, show, showError, t } from "/static/i18n.js";

const me = whoAmI();
// An operator, who acts everywhere, names the community: /office?community=c1.
const cid = (me && me.community_id) || new URLSearchParams(location.search).get("community") || "";
const base = `/api/communities/${encodeURIComponent(cid)}`;
let balance = 0;

const REFUSALS = {
  fund_overdrawn: () => t("office.that_would_overdraw_the", { b: yuan(balance) }),
  already_used: () => t("office.this_voucher_was_used"),
  unknown_voucher: () => t("office.no_such_voucher_check"),
  reward_exists: () => t("office.that_reward_exists_already"),
  unknown_reward: () => t("office.no_such_reward"),
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
  $("title").textContent = t("office.title_of", { name: report.name });
}

async function loadRewards() {
  const { rewards } = await api("GET", `${base}/rewards?all=1`);
  $("reward-list").replaceChildren(...(rewards.length ? rewards.map((r) => {
    const li = el("li", undefined, "reward");
    li.dataset.reward = r.id;
    const what = el("div", undefined, "what");
    what.append(el("strong", r.title + (r.active ? "" : t("office.withdrawn"))));
    const worth = r.kind === "fee_offset" ? t("office.fee_worth", { v: yuan(r.value_cents) }) : t("office.goods");
    const left = r.stock === null ? t("office.unlimited") : t("office.left", { n: r.stock });
    what.append(el("div", t("office.reward_line", { p: r.points, worth, left }), "when"));
    const b = el("button", r.active ? t("office.withdraw") : t("office.offer_again"));
    b.type = "button";
    b.onclick = async () => {
      try { await api("PATCH", `${base}/rewards/${encodeURIComponent(r.id)}`, { active: !r.active }); }
      catch (e) { say("reward-result", refusal(e), false); }
      loadRewards();
    };
    li.append(what, b);
    return li;
  }) : [el("li", t("office.no_rewards"), "empty")]));
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
    const when = o.expired_at ? t("office.expired_at", { when: localTime(o.expired_at) }) : "";
    what.append(el("span", t("office.pickup_line", { point: o.pickup_point_id || "—", code: o.pickup_code || "—", when }), "when"));
    li.append(what);
    return li;
  }) : [el("li", t("common.none_yet"), "empty")]));
}

$("voucher-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    const v = await api("POST", `${base}/vouchers/verify`, { code: $("voucher-code").value });
    say("voucher-result", t("office.voucher_ok", { name: v.resident_name, title: v.title, v: yuan(v.value_cents) }), true);
    $("voucher-code").value = "";
  } catch (e) { say("voucher-result", refusal(e), false); }
};

$("spend-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const amount = cents($("spend-yuan").value);
  if (Number.isNaN(amount)) { say("spend-result", t("office.amount_positive"), false); return; }
  try {
    await api("POST", `${base}/fund/spending`, { project: $("spend-project").value.trim(), amount_cents: amount,
                                                 note: $("spend-note").value.trim(), request_id: newId("s") });
    say("spend-result", t("office.spent", { project: $("spend-project").value.trim(), amount: yuan(amount) }), true);
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
    if (Number.isNaN(body.value_cents)) { say("reward-result", t("office.fee_value_needed"), false); return; }
  }
  if ($("reward-stock").value !== "") body.stock = Number($("reward-stock").value);
  try {
    await api("POST", `${base}/rewards`, body);
    say("reward-result", t("office.offered", { title: body.title }), true);
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
    say("rates-result", t("office.rates_saved"), true);
  } catch (e) { say("rates-result", refusal(e), false); }
};

applyI18n();
largeTextToggle($("big-text"));
languageToggle($("lang"), () => { if (cid) { loadFund().catch(() => {}); loadRewards().catch(() => {}); loadExpired().catch(() => {}); } });
$("to-fund").href = `/fund/${encodeURIComponent(cid)}`;
if (!cid) {
  show($("status"), "office.admin_only");
  $("status").className = "result no";
} else {
  Promise.all([loadFund(), loadRewards(), loadRates(), loadExpired()])
    .then(() => { $("status").textContent = ""; })
    .catch((e) => { showError($("status"), e); $("status").className = "result no"; });
}
