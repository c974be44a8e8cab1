// A resident's neighbourhood points: the balance in big digits, what each change was for in plain
// words, the rewards her community offers (redeemed after she confirms) and her vouchers, whose
// codes the property office takes off the fee.
import { $, api, el, largeTextToggle, whoAmI, yuan } from "/static/common.js";
import { dateText, errorText, lang, languageToggle, showError, t } from "/static/i18n.js";

const me = whoAmI();
let entries = [], more = false, balance = 0, offered = [], mine = [];

const WORDS = {
  title: "points.words.title", balanceTitle: "points.words.balanceTitle", home: "common.home",
  fund: "common.community_fund", rewards: "points.words.rewards",
  vouchers: "points.words.vouchers", history: "points.words.history",
  more: "points.words.more", big: "common.big_text",
};

// The codes a redemption may meet, in plain words; the rest as every page says them.
const REFUSALS = {
  not_enough_points: "points.refusals.not_enough_points",
  out_of_stock: "points.refusals.out_of_stock",
  reward_withdrawn: "points.refusals.reward_withdrawn",
  unknown_reward: "points.refusals.unknown_reward",
  not_a_resident: "points.refusals.not_a_resident",
};
const refusal = (e) => (REFUSALS[e.code] ? t(REFUSALS[e.code]) : errorText(e));

function say(text, ok) { $("result").textContent = text; $("result").className = "result " + (ok ? "ok" : "no"); }

function day(ms) {
  const d = new Date(ms);
  return lang() === "en" ? d.toLocaleDateString("en-GB") : dateText(d, { month: "long", day: "numeric" });
}

/** What an entry was for, as a neighbour would say it. */
function reasonText(e) {
  switch (e.reason) {
    case "collected": return t("points.points_for_a_collected");
    case "lucky_bag": return t("points.lucky_bag");
    case "red_packet": return t("points.red_packet");
    case "volunteer": return t("points.volunteering_why", { why: e.note });
    case "redeemed": return t("points.exchanged_what", { what: e.note });
    default: return e.note || e.reason;
  }
}

/** A voucher code in groups of four, as the office reads it out: ABCD EFGH JKMN. */
const grouped = (code) => code.replace(/(.{4})(?=.)/g, "$1 ");

function labels() {
  for (const [id, key] of [["title", "title"], ["balance-title", "balanceTitle"], ["home", "home"], ["to-fund", "fund"],
    ["rewards-title", "rewards"], ["vouchers-title", "vouchers"], ["history-title", "history"], ["more", "more"],
    ["big-text", "big"]]) $(id).textContent = t(WORDS[key]);
}

function render() {
  labels();
  $("balance").replaceChildren(document.createTextNode(String(balance)), el("small", t("points.points")));
  $("history").replaceChildren(...(entries.length ? entries.map((e) => {
    const li = el("li");
    li.dataset.entry = e.id;
    const what = el("div", undefined, "what");
    what.append(el("span", reasonText(e)), el("span", day(e.at), "when"));
    li.append(what, el("span", (e.delta > 0 ? "+" : "") + e.delta, "delta " + (e.delta > 0 ? "plus" : "minus")));
    return li;
  }) : [el("li", t("points.no_points_yet_collecting"), "empty")]));
  $("more").hidden = !more;
  $("rewards").replaceChildren(...(offered.length ? offered.map((r) => {
    const li = el("li", undefined, "reward");
    li.dataset.reward = r.id;
    const what = el("div", undefined, "what");
    what.append(el("strong", r.title));
    const worth = r.kind === "fee_offset" ? t("points.takes_v_off_the", { v: yuan(r.value_cents) }) : "";
    const left = r.stock === null ? "" : t("points.n_left", { n: r.stock });
    what.append(el("div", [t("points.p_points", { p: r.points }), worth, left].filter(Boolean).join(" · "), "when"));
    // Say what is missing before she taps, rather than refusing after.
    const short = r.points - balance;
    const b = el("button", r.stock === 0 ? t("points.none_left")
      : short > 0 ? t("points.n_more_points", { n: short }) : t("points.exchange"));
    b.type = "button";
    b.disabled = r.stock === 0 || short > 0;
    b.onclick = () => redeem(r, b);
    li.append(what, b);
    return li;
  }) : [el("li", t("points.no_rewards_on_offer"), "empty")]));
  $("vouchers").replaceChildren(...(mine.length ? mine.map((v) => {
    const li = el("li", undefined, "voucher" + (v.status === "verified" ? " used" : ""));
    li.dataset.redemption = v.id;
    li.append(el("strong", v.title), el("span", ` · ${day(v.at)}`, "when"));
    if (v.voucher_code) {
      li.append(el("span", grouped(v.voucher_code), "code"));
      li.append(el("div", v.status === "verified"
        ? t("points.used_at_the_office", { when: day(v.verified_at) })
        : t("points.show_this_code_at", { v: yuan(v.value_cents) })));
    } else {
      li.append(el("div", t("points.exchanged_collect_it_at")));
    }
    return li;
  }) : [el("li", t("points.nothing_exchanged_yet"), "empty")]));
}

async function redeem(r, button) {
  const sure = confirm(t("points.exchange_p_points_for", { p: r.points, t: r.title }));
  if (!sure) return;
  button.disabled = true;
  // One id per confirmed tap: if the answer is lost and she taps again, this is a new exchange;
  // a retry of this very request (the same id) redeems once.
  const request_id = "p" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  try {
    const done = await api("POST", `/api/rewards/${encodeURIComponent(r.id)}/redeem`, { request_id });
    say(done.voucher_code ? t("points.done_voucher_code_c", { c: grouped(done.voucher_code) })
                          : t("points.done"), true);
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
    showError($("status"), e);
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
