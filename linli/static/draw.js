// Check a lucky bag's draw from its public audit, in this browser: SHA-256 of the revealed seed must be
// the hash published when the bag opened, and the winners must follow from the seed and the entrants by
// the documented rule (stream/fairness.py): eligible entrants (not capped) ordered by (recent winner
// last, SHA-256(seed + ":" + user id)); the first `prizes` win. Staff get user ids and recompute every
// key; everyone else gets the keys and recomputes her own from her id, so she sees she was in the draw.
import { $, api, el, largeTextToggle, localTime, whoAmI } from "/static/common.js";
import { lang, languageToggle, show, showError, t } from "/static/i18n.js";

const bid = decodeURIComponent(location.pathname.split("/").pop());
const WORDS = {
  title: "draw.words.title", verdict: "draw.words.verdict", facts: "draw.words.facts",
  entrants: "draw.words.entrants", home: "common.home", big: "common.big_text",
  checking: "draw.words.checking", done: "draw.words.done",
  hashYes: "draw.words.hashYes",
  hashNo: "draw.words.hashNo",
  hashNone: "draw.words.hashNone",
  winYes: "draw.words.winYes",
  winNo: "draw.words.winNo",
  mineYes: "draw.words.mineYes",
  mineNo: "draw.words.mineNo",
  noCrypto: "draw.words.noCrypto",
  rule: "draw.words.rule",
  bag: "draw.words.bag",
  seed: "draw.words.seed", hash: "draw.words.hash", ruleName: "draw.words.ruleName",
  options: "draw.words.options", undrawn: "draw.words.undrawn",
  prefer: "draw.words.prefer",
  cap: "draw.words.cap", noOptions: "draw.words.noOptions",
  recent: "draw.words.recent", capped: "draw.words.capped", won: "draw.words.won", you: "draw.words.you",
  neighbour: "draw.words.neighbour",
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
  $(id).textContent = t(ok ? yes : no, params);
}

function render() {
  for (const [id, key] of [["title", "title"], ["verdict-title", "verdict"], ["facts-title", "facts"],
                           ["entrants-title", "entrants"], ["home", "home"], ["big-text", "big"]]) {
    $(id).textContent = t(WORDS[key]);
  }
  document.title = t(WORDS.title);
  if (!audit) return;
  const a = audit;
  $("bag-title").textContent = t(WORDS.bag, { title: a.title, at: localTime(a.drawn_at, lang()), n: a.entrants.length, prizes: a.prizes });
  if (!crypto.subtle) { $("check-hash").textContent = t(WORDS.noCrypto); }
  else if (a.seed_hash) say("check-hash", checks.hash, WORDS.hashYes, WORDS.hashNo);
  else { $("check-hash").className = "check"; $("check-hash").textContent = t(WORDS.hashNone); }
  if (checks.winners !== null) say("check-winners", checks.winners, WORDS.winYes, WORDS.winNo);
  $("check-mine").hidden = checks.mine === null;
  if (checks.mine !== null) say("check-mine", checks.mine > 0, WORDS.mineYes, WORDS.mineNo, { n: checks.mine });
  $("rule").textContent = t(WORDS.rule, { prizes: a.prizes });
  const options = [a.prefer_new_days ? t(WORDS.prefer, { d: a.prefer_new_days }) : "",
                   a.monthly_cap ? t(WORDS.cap, { n: a.monthly_cap }) : ""].filter(Boolean).join(t("common.clause_sep")) || t(WORDS.noOptions);
  const facts = [[WORDS.seed, a.seed], [WORDS.hash, a.seed_hash || "—"], [WORDS.ruleName, a.rule],
                 [WORDS.options, options], [WORDS.undrawn, String(a.undrawn)]];
  $("facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", t(k)), el("dd", v)]));
  const won = new Set(a.winners);
  $("entrants").replaceChildren(...a.entrants.map((e) => {
    const li = el("li");
    li.dataset.key = e.key;
    if (e.me) li.classList.add("me");
    li.append(el("span", e.me ? t(WORDS.you) : (e.name || e.user_id || t(WORDS.neighbour))));
    if (won.has(e.key)) li.append(el("span", t(WORDS.won), "won"));
    if (e.recent) li.append(el("span", t(WORDS.recent), "flag"));
    if (e.capped) li.append(el("span", t(WORDS.capped), "flag"));
    li.append(el("span", e.key, "key"));
    return li;
  }));
}

largeTextToggle($("big-text"));
languageToggle($("lang"), render);
render();
(async () => {
  show($("status"), WORDS.checking);
  try {
    audit = await api("GET", `/api/lucky-bag-draws/${encodeURIComponent(bid)}`);
    checks = await check(audit);
    render();
    show($("status"), WORDS.done);
    document.body.dataset.checked = checks.hash !== false && checks.winners ? "ok" : "failed";
  } catch (e) { showError($("status"), e); document.body.dataset.checked = "error"; }
})();
