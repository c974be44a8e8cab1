// Check a lucky bag's draw from its public audit, in this browser: SHA-256 of the revealed seed must be
// the hash published when the bag opened, and the winners must follow from the seed and the entrants by
// the documented rule (stream/fairness.py): eligible entrants (not capped) ordered by (recent winner
// last, SHA-256(seed + ":" + user id)); the first `prizes` win. Staff get user ids and recompute every
// key; everyone else gets the keys and recomputes her own from her id, so she sees she was in the draw.
import { $, api, el, largeTextToggle, localTime, whoAmI } from "/static/common.js";
import { errorText, fmt, lang, languageToggle } from "/static/i18n.js";

const bid = decodeURIComponent(location.pathname.split("/").pop());
const WORDS = {
  title: ["福袋开奖公证", "Lucky bag draw check"], verdict: ["核对结果", "Check"], facts: ["公开的数据", "Public data"],
  entrants: ["参与的邻居（按抽签号排序）", "Entrants (by draw number)"], home: ["回首页", "Home"], big: ["大字", "Large text"],
  checking: ["正在核对…", "Checking…"], done: ["已在您的手机上重新算过", "Recomputed on this device"],
  hashYes: ["开奖前公布的密码指纹和开奖后公开的密码对得上", "The seed revealed at the draw matches the hash published when the bag opened"],
  hashNo: ["密码指纹对不上！", "The revealed seed does NOT match the published hash!"],
  hashNone: ["这次开奖在公布指纹之前（旧规则），只能核对名单", "This draw predates published hashes (old rule): only the winners can be checked"],
  winYes: ["按公开规则重新算出的中奖名单和公布的一样", "Recomputing by the published rule gives the same winners"],
  winNo: ["重新算出的中奖名单不一样！", "Recomputing gives DIFFERENT winners!"],
  mineYes: ["您在抽签名单里，抽签号 {n}", "You were in the draw, number {n}"],
  mineNo: ["名单里找不到您的抽签号", "Your draw number is not in the list"],
  noCrypto: ["这个浏览器不能计算 SHA-256（请用 https 打开）", "This browser cannot compute SHA-256 here (open it over https)"],
  rule: ["规则：没封顶的邻居按（最近中过奖的排后面，SHA-256(密码:用户号)）排序，前 {prizes} 位中奖。",
         "Rule: entrants not at the cap, ordered by (recent winners last, SHA-256(seed:user id)); the first {prizes} win."],
  bag: ["{title}，{at} 开奖，{n} 人参与，{prizes} 份奖品", "{title}, drawn {at}, {n} entrants, {prizes} prizes"],
  seed: ["开奖密码", "Seed"], hash: ["开奖前公布的指纹", "Hash published at opening"], ruleName: ["规则", "Rule"],
  options: ["选项", "Options"], undrawn: ["没抽出的奖品（已回库存）", "Undrawn prizes (back in stock)"],
  prefer: ["{d} 天内中过奖的排后面", "winners of the last {d} days drawn last"],
  cap: ["30 天内最多中 {n} 次", "at most {n} wins in 30 days"], noOptions: ["无", "none"],
  recent: ["最近中过", "recent winner"], capped: ["已封顶", "at the cap"], won: ["中奖", "won"], you: ["您", "you"],
  neighbour: ["邻居", "Neighbour"],
};
let audit = null;
let checks = null;

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The documented rule over rank keys (user ids break ties only when two keys are equal). */
function winnersOf(entrants, prizes) {
  return entrants.filter((e) => !e.capped)
    .sort((a, b) => (a.recent - b.recent) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
                    || String(a.user_id || "").localeCompare(String(b.user_id || "")))
    .slice(0, prizes).map((e) => e.key);
}

async function check(a) {
  const legacy = a.rule !== "sha256-tiers-v1";
  const result = { hash: null, winners: null, mine: null };
  if (!crypto.subtle) return result;
  if (a.seed_hash) result.hash = (await sha256(a.seed)) === a.seed_hash;
  let entrants = a.entrants;
  if (!legacy && entrants.some((e) => e.user_id)) {
    // Staff: every key from its user id, so the keys themselves are checked too.
    entrants = await Promise.all(entrants.map(async (e) => ({ ...e, key: await sha256(`${a.seed}:${e.user_id}`) })));
  }
  const again = winnersOf(entrants.map((e) => ({ ...e, recent: e.recent ? 1 : 0 })), a.prizes);
  result.winners = !legacy && again.length === a.winners.length && again.every((k, i) => k === a.winners[i]);
  if (legacy) result.winners = a.winners_match;  // the old rule's SHA-1: checked by the server and verify-draw
  const me = whoAmI();
  if (!legacy && me && a.entrants.some((e) => e.me)) {
    const mine = await sha256(`${a.seed}:${me.user_id}`);
    const at = a.entrants.findIndex((e) => e.key === mine);
    result.mine = at >= 0 ? at + 1 : 0;
  }
  return result;
}

function say(id, ok, yes, no, params = {}) {
  $(id).hidden = false;
  $(id).className = `check ${ok ? "yes" : "no"}`;
  $(id).textContent = fmt(ok ? yes : no, params);
}

function render() {
  for (const [id, key] of [["title", "title"], ["verdict-title", "verdict"], ["facts-title", "facts"],
                           ["entrants-title", "entrants"], ["home", "home"], ["big-text", "big"]]) {
    $(id).textContent = fmt(WORDS[key]);
  }
  document.title = fmt(WORDS.title);
  if (!audit) return;
  const a = audit;
  $("bag-title").textContent = fmt(WORDS.bag, { title: a.title, at: localTime(a.drawn_at, lang()), n: a.entrants.length, prizes: a.prizes });
  if (!crypto.subtle) { $("check-hash").textContent = fmt(WORDS.noCrypto); }
  else if (a.seed_hash) say("check-hash", checks.hash, WORDS.hashYes, WORDS.hashNo);
  else { $("check-hash").className = "check"; $("check-hash").textContent = fmt(WORDS.hashNone); }
  if (checks.winners !== null) say("check-winners", checks.winners, WORDS.winYes, WORDS.winNo);
  $("check-mine").hidden = checks.mine === null;
  if (checks.mine !== null) say("check-mine", checks.mine > 0, WORDS.mineYes, WORDS.mineNo, { n: checks.mine });
  $("rule").textContent = fmt(WORDS.rule, { prizes: a.prizes });
  const options = [a.prefer_new_days ? fmt(WORDS.prefer, { d: a.prefer_new_days }) : "",
                   a.monthly_cap ? fmt(WORDS.cap, { n: a.monthly_cap }) : ""].filter(Boolean).join("；") || fmt(WORDS.noOptions);
  const facts = [[WORDS.seed, a.seed], [WORDS.hash, a.seed_hash || "—"], [WORDS.ruleName, a.rule],
                 [WORDS.options, options], [WORDS.undrawn, String(a.undrawn)]];
  $("facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", fmt(k)), el("dd", v)]));
  const won = new Set(a.winners);
  $("entrants").replaceChildren(...a.entrants.map((e) => {
    const li = el("li");
    li.dataset.key = e.key;
    if (e.me) li.classList.add("me");
    li.append(el("span", e.me ? fmt(WORDS.you) : (e.name || e.user_id || fmt(WORDS.neighbour))));
    if (won.has(e.key)) li.append(el("span", fmt(WORDS.won), "won"));
    if (e.recent) li.append(el("span", fmt(WORDS.recent), "flag"));
    if (e.capped) li.append(el("span", fmt(WORDS.capped), "flag"));
    li.append(el("span", e.key, "key"));
    return li;
  }));
}

largeTextToggle($("big-text"));
languageToggle($("lang"), render);
render();
(async () => {
  $("status").textContent = fmt(WORDS.checking);
  try {
    audit = await api("GET", `/api/lucky-bag-draws/${encodeURIComponent(bid)}`);
    checks = await check(audit);
    render();
    $("status").textContent = fmt(WORDS.done);
    document.body.dataset.checked = checks.hash !== false && checks.winners ? "ok" : "failed";
  } catch (e) { $("status").textContent = errorText(e); document.body.dataset.checked = "error"; }
})();
