// The community fund, open to everyone of the community: what it holds, the share of each
// purchase that flows in, the income of each month as bars, and every spending by project.
import { $, api, el, largeTextToggle, yuan } from "/static/common.js";
import { errorText, fmt, lang, languageToggle } from "/static/i18n.js";

const cid = decodeURIComponent(location.pathname.split("/").pop());
let report = null;

const WORDS = {
  title: ["社区基金", "Community fund"], balance: ["基金余额", "Balance"], income: ["每月收入", "Income by month"],
  spending: ["支出明细", "Spending"], home: ["回首页", "Home"], big: ["大字", "Large text"],
};

function labels() {
  $("home").textContent = fmt(WORDS.home);
  $("big-text").textContent = fmt(WORDS.big);
  $("balance-title").textContent = fmt(WORDS.balance);
  $("income-title").textContent = fmt(WORDS.income);
  $("spending-title").textContent = fmt(WORDS.spending);
}

/** "2026-11" in plain words: 2026年11月. */
function monthName(month) {
  const [y, m] = month.split("-");
  return lang() === "en" ? `${m}/${y}` : `${y}年${Number(m)}月`;
}

function day(ms) {
  const d = new Date(ms);
  return lang() === "en" ? d.toLocaleDateString("en-GB") : `${d.getFullYear()}年${d.getMonth() + 1}月${d.getDate()}日`;
}

function render() {
  labels();
  const r = report;
  $("title").textContent = `${r.name} · ${fmt(WORDS.title)}`;
  document.title = $("title").textContent;
  $("status").textContent = "";
  $("balance").textContent = yuan(r.balance_cents);
  const pct = Math.round(r.share * 1000) / 10;
  $("facts").replaceChildren(
    el("div", fmt(["每笔收货，商家收入的 {pct}% 进入基金", "{pct}% of the merchants' revenue of every collected order flows in"], { pct })),
    el("div", fmt(["累计收入 {a}，累计支出 {b}", "Income so far {a}, spent {b}"], { a: yuan(r.income_cents), b: yuan(r.spent_cents) })),
  );
  // Bars, newest month first; each bar's length is its share of the best month.
  const top = Math.max(1, ...r.income.map((m) => m.amount_cents));
  if (!r.income.length) $("months").replaceChildren(el("p", fmt(["还没有收入", "No income yet"]), "empty"));
  else $("months").replaceChildren(...r.income.map((m) => {
    const row = el("div", undefined, "month");
    row.setAttribute("role", "listitem");
    row.dataset.month = m.month;
    const track = el("span", undefined, "track");
    const fill = el("span", undefined, "fill");
    fill.style.width = `${Math.max(1, Math.round((m.amount_cents / top) * 100))}%`;
    track.append(fill);
    row.append(el("span", monthName(m.month), "label"), track,
               el("span", fmt(["{a}（{n} 笔订单）", "{a} ({n} orders)"], { a: yuan(m.amount_cents), n: m.orders }), "amount"));
    row.setAttribute("aria-label", `${monthName(m.month)} ${yuan(m.amount_cents)}`);
    return row;
  }));
  if (!r.spending.length) $("projects").replaceChildren(el("p", fmt(["还没有支出", "Nothing spent yet"]), "empty"));
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
    $("status").textContent = errorText(e);
    $("status").className = "result no";
  }
}

largeTextToggle($("big-text"));
languageToggle($("lang"), () => (report ? render() : labels()));
load();
