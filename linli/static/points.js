// A resident's neighbourhood points: the balance in big digits, what each change was for in plain
// words, the rewards her community offers (redeemed after she confirms) and her vouchers, whose
// codes the property office takes off the fee.
import { $, api, el, largeTextToggle, whoAmI, yuan } from "/static/common.js";
import { errorText, fmt, lang, languageToggle } from "/static/i18n.js";

const me = whoAmI();
let entries = [], more = false, balance = 0, offered = [], mine = [];

const WORDS = {
  title: ["我的积分", "My points"], balanceTitle: ["睦邻积分", "Neighbourhood points"], home: ["回首页", "Home"],
  fund: ["社区基金", "Community fund"], rewards: ["用积分兑换", "Exchange points"],
  vouchers: ["我的兑换和物业费抵用券", "My rewards and fee vouchers"], history: ["积分明细", "Points history"],
  more: ["更早的", "Older"], big: ["大字", "Large text"],
};

// The codes a redemption may meet, in plain words; the rest as every page says them.
const REFUSALS = {
  not_enough_points: ["积分不够，攒够了再来换", "Not enough points yet."],
  out_of_stock: ["已经换完了", "None left."],
  reward_withdrawn: ["这个奖品已经下架了", "This reward is no longer offered."],
  unknown_reward: ["找不到这个奖品", "No such reward."],
  not_a_resident: ["您还没有登记为本社区居民，请联系网格员", "You are not registered as a resident yet."],
};
const refusal = (e) => (REFUSALS[e.code] ? fmt(REFUSALS[e.code]) : errorText(e));

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }

function day(ms) {
  const d = new Date(ms);
  return lang() === "en" ? d.toLocaleDateString("en-GB") : `${d.getMonth() + 1}月${d.getDate()}日`;
}

/** What an entry was for, as a neighbour would say it. */
function reasonText(e) {
  switch (e.reason) {
    case "collected": return fmt(["收货得积分", "Points for a collected order"]);
    case "lucky_bag": return fmt(["福袋", "Lucky bag"]);
    case "red_packet": return fmt(["红包", "Red packet"]);
    case "volunteer": return fmt(["志愿服务：{why}", "Volunteering: {why}"], { why: e.note });
    case "redeemed": return fmt(["兑换：{what}", "Exchanged: {what}"], { what: e.note });
    default: return e.note || e.reason;
  }
}

/** A voucher code in groups of four, as the office reads it out: ABCD EFGH JKMN. */
const grouped = (code) => code.replace(/(.{4})(?=.)/g, "$1 ");

function labels() {
  for (const [id, key] of [["title", "title"], ["balance-title", "balanceTitle"], ["home", "home"], ["to-fund", "fund"],
    ["rewards-title", "rewards"], ["vouchers-title", "vouchers"], ["history-title", "history"], ["more", "more"],
    ["big-text", "big"]]) $(id).textContent = fmt(WORDS[key]);
}

function render() {
  labels();
  $("balance").replaceChildren(document.createTextNode(String(balance)), el("small", fmt(["分", "points"])));
  $("history").replaceChildren(...(entries.length ? entries.map((e) => {
    const li = el("li");
    li.dataset.entry = e.id;
    const what = el("div", undefined, "what");
    what.append(el("span", reasonText(e)), el("span", day(e.at), "when"));
    li.append(what, el("span", (e.delta > 0 ? "+" : "") + e.delta, "delta " + (e.delta > 0 ? "plus" : "minus")));
    return li;
  }) : [el("li", fmt(["还没有积分，收货、参加活动都能得积分", "No points yet: collecting orders and volunteering earn them"]), "empty")]));
  $("more").hidden = !more;
  $("rewards").replaceChildren(...(offered.length ? offered.map((r) => {
    const li = el("li", undefined, "reward");
    li.dataset.reward = r.id;
    const what = el("div", undefined, "what");
    what.append(el("strong", r.title));
    const worth = r.kind === "fee_offset" ? fmt(["抵物业费 {v}", "Takes {v} off the property fee"], { v: yuan(r.value_cents) }) : "";
    const left = r.stock === null ? "" : fmt(["还剩 {n} 份", "{n} left"], { n: r.stock });
    what.append(el("div", [fmt(["{p} 积分", "{p} points"], { p: r.points }), worth, left].filter(Boolean).join(" · "), "when"));
    // Say what is missing before she taps, rather than refusing after.
    const short = r.points - balance;
    const b = el("button", r.stock === 0 ? fmt(["换完了", "None left"])
      : short > 0 ? fmt(["还差 {n} 分", "{n} more points"], { n: short }) : fmt(["兑换", "Exchange"]));
    b.type = "button";
    b.disabled = r.stock === 0 || short > 0;
    b.onclick = () => redeem(r, b);
    li.append(what, b);
    return li;
  }) : [el("li", fmt(["社区还没有可兑换的奖品", "No rewards on offer yet"]), "empty")]));
  $("vouchers").replaceChildren(...(mine.length ? mine.map((v) => {
    const li = el("li", undefined, "voucher" + (v.status === "verified" ? " used" : ""));
    li.dataset.redemption = v.id;
    li.append(el("strong", v.title), el("span", ` · ${day(v.at)}`, "when"));
    if (v.voucher_code) {
      li.append(el("span", grouped(v.voucher_code), "code"));
      li.append(el("div", v.status === "verified"
        ? fmt(["物业已收下，{when}", "Used at the office on {when}"], { when: day(v.verified_at) })
        : fmt(["到物业办公室出示这个号码，抵 {v} 物业费", "Show this code at the property office: {v} off the fee"], { v: yuan(v.value_cents) })));
    } else {
      li.append(el("div", fmt(["已兑换，到社区领取", "Exchanged: collect it at the community office"])));
    }
    return li;
  }) : [el("li", fmt(["还没有兑换过", "Nothing exchanged yet"]), "empty")]));
}

async function redeem(r, button) {
  const sure = confirm(fmt(["用 {p} 积分兑换「{t}」？", "Exchange {p} points for “{t}”?"], { p: r.points, t: r.title }));
  if (!sure) return;
  button.disabled = true;
  // One id per confirmed tap: if the answer is lost and she taps again, this is a new exchange;
  // a retry of this very request (the same id) redeems once.
  const request_id = "p" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  try {
    const done = await api("POST", `/api/rewards/${encodeURIComponent(r.id)}/redeem`, { request_id });
    say(done.voucher_code ? fmt(["换好了！抵用券号码：{c}", "Done! Voucher code: {c}"], { c: grouped(done.voucher_code) })
                          : fmt(["换好了！", "Done!"]), true);
  } catch (e) {
    say(refusal(e), false);
  }
  await load();
}

async function loadOlder() {
  const page = await api("GET", `/api/me/points?limit=20&before=${encodeURIComponent(entries[entries.length - 1].id)}`);
  entries = entries.concat(page.entries);
  more = page.more;
  render();
}

async function load() {
  try {
    const [points, redeemed, list] = await Promise.all([
      api("GET", "/api/me/points?limit=20"), api("GET", "/api/me/redemptions"),
      me && me.community_id ? api("GET", `/api/communities/${encodeURIComponent(me.community_id)}/rewards`) : { rewards: [] },
    ]);
    ({ balance, entries, more } = points);
    mine = redeemed.redemptions;
    offered = list.rewards;
    $("status").textContent = "";
    render();
  } catch (e) {
    labels();
    $("status").textContent = errorText(e);
    $("status").className = "result no";
  }
}

if (me && me.community_id) {
  $("to-fund").href = `/fund/${encodeURIComponent(me.community_id)}`;
  $("to-fund").hidden = false;
}
$("more").onclick = () => loadOlder().catch((e) => say(errorText(e), false));
largeTextToggle($("big-text"));
languageToggle($("lang"), render);
load();
