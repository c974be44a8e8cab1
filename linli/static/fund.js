// The community fund, open to everyone of the community: what it holds, the share of each
// purchase that flows in, the income of each month as bars, and every spending by project.
import { $, api, el, largeTextToggle, yuan } from "/static/common.js";
import { dateText, lang, languageToggle, showError, t } from "/static/i18n.js";

const cid = decodeURIComponent(location.pathname.split("/").pop());
let report = null;

const WORDS = {
  title: "common.community_fund", balance: "fund.words.balance", income: "fund.words.income",
  spending: "fund.words.spending", home: "common.home", big: "common.big_text",
};

function labels() {
  $("home").textContent = t(WORDS.home);
  $("big-text").textContent = t(WORDS.big);
  $("balance-title").textContent = t(WORDS.balance);
  $("income-title").textContent = t(WORDS.income);
  $("spending-title").textContent = t(WORDS.spending);
}

/** "2026-11" in plain words: 2026年11月, or 11/2026. */
function monthName(month) {
  const [y, m] = month.split("-");
  return lang() === "en" ? `${m}/${y}` : dateText(new Date(Number(y), Number(m) - 1, 1), { year: "numeric", month: "long" });
}

function day(ms) {
  const d = new Date(ms);
  return lang() === "en" ? d.toLocaleDateString("en-GB") : dateText(d, { year: "numeric", month: "long", day: "numeric" });
}

function render() {
  labels();
  const r = report;
  $("title").textContent = `${r.name} · ${t(WORDS.title)}`;
  document.title = $("title").textContent;
  $("status").textContent = "";
  $("balance").textContent = yuan(r.balance_cents);
  const pct = Math.round(r.share * 1000) / 10;
  $("facts").replaceChildren(
    el("div", t("fund.pct_of_the_merchants", { pct })),
    el("div", t("fund.income_so_far_a", { a: yuan(r.income_cents), b: yuan(r.spent_cents) })),
  );
  // Bars, newest month first; each bar's length is its share of the best month.
  const top = Math.max(1, ...r.income.map((m) => m.amount_cents));
  if (!r.income.length) $("months").replaceChildren(el("p", t("fund.no_income_yet"), "empty"));
  else $("months").replaceChildren(...r.income.map((m) => {
    const row = el("div", undefined, "month");
    row.setAttribute("role", "listitem");
    row.dataset.month = m.month;
    const track = el("span", undefined, "track");
    const fill = el("span", undefined, "fill");
    fill.style.width = `${Math.max(1, Math.round((m.amount_cents / top) * 100))}%`;
    track.append(fill);
    row.append(el("span", monthName(m.month), "label"), track,
               el("span", t("fund.a_n_orders", { a: yuan(m.amount_cents), n: m.orders }), "amount"));
    row.setAttribute("aria-label", `${monthName(m.month)} ${yuan(m.amount_cents)}`);
    return row;
  }));
  if (!r.spending.length) $("projects").replaceChildren(el("p", t("fund.nothing_spent_yet"), "empty"));
  else $("projects").replaceChildren(...r.spending.map((p) => {
    const box = el("div", undefined, "project");
    const head = el("h3");
    head.append(el("span", p.project), el("span", yuan(p.amount_cents)));
    const list = el("ul");
    list.append(...p.records.map((s) => {
      const li = el("li");
      li.append(el("div", `${day(s.at)} · ${yuan(s.amount_cents)}`));
      if (s.note) li.append(el("div", s.note, "note"));
      return li;
    }));
    box.append(head, list);
    return box;
  }));
}

async function load() {
  try {
    report = await api("GET", `/api/communities/${encodeURIComponent(cid)}/fund`);
    render();
  } catch (e) {
    labels();
    showError($("status"), e);
    $("status").className = "result no";
  }
}

largeTextToggle($("big-text"));
languageToggle($("lang"), () => (report ? render() : labels()));
load();
