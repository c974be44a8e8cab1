// The page's language. Every message a page shows has an id ("pickup.confirm") and one text per
// language in a catalogue (linli/static/i18n/zh.js, en.js); pages ask for t(id, params) and never
// hold the words themselves, so a new language is one new catalogue. How to add a message or a
// language: docs/i18n.md.
import zh from "/static/i18n/zh.js";
import en from "/static/i18n/en.js";

/** The catalogues by language code; the first is the reference and the fallback. */
export const CATALOGUES = { zh, en };
const LANG_KEY = "linli-lang";
const HTML_LANG = { zh: "zh-CN", en: "en" };

/** The language the browser asks for when it is one of ours; Chinese when unsure. */
function browserLanguage() {
  const first = String((navigator.languages && navigator.languages[0]) || navigator.language || "").toLowerCase();
  const base = first.split("-")[0];
  return base in CATALOGUES ? base : "zh";
}

/** The page's language: the one chosen on this browser, else the browser's own, else Chinese. */
export function lang() {
  const kept = localStorage.getItem(LANG_KEY);
  return kept && kept in CATALOGUES ? kept : browserLanguage();
}

/** Choose the page's language (kept for the next visit) and translate what is on the page. */
export function setLang(code) {
  localStorage.setItem(LANG_KEY, code in CATALOGUES ? code : "zh");
  applyI18n();
}

const plural = {};
/** One text of a {one, other} message, chosen by the count params.n in the page's language. */
function pick(text, params, code) {
  if (typeof text !== "object" || text === null) return text;
  plural[code] ??= new Intl.PluralRules(HTML_LANG[code]);
  return text[plural[code].select(Number(params.n))] ?? text.other;
}

/** Whether the catalogues know message `id`. */
export const has = (id) => typeof id === "string" && id in zh;

/**
 * Message `id` in the page's language with its {named} parameters filled in:
 * t("pickup.arrived", {n: 3}). A message missing from the page's language falls back to Chinese;
 * an id no catalogue knows is shown as given (so t(table[code] || code) shows the raw code).
 */
export function t(id, params = {}) {
  const code = lang();
  const text = CATALOGUES[code][id] ?? zh[id] ?? id;
  return String(pick(text, params, code) ?? "").replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));
}

/** Epoch ms as the page's language writes it: dateText(ms, {month: "long", day: "numeric"}) is 6月7日 or 7 June. */
export const dateText = (ms, options) => new Date(ms).toLocaleString(HTML_LANG[lang()] || "zh-CN", options);

/**
 * Translate the page's fixed words: an element with data-i18n="id" gets the message as its text,
 * data-i18n-placeholder / data-i18n-aria-label / data-i18n-title set those attributes. Sets <html lang>.
 */
export function applyI18n(root = document) {
  document.documentElement.lang = HTML_LANG[lang()] || "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) {
    // An element the page has since written itself ("正在加载…" became "3 张订单") is the page's to redo.
    if (el.dataset.i18nShown !== undefined && el.textContent !== el.dataset.i18nShown) continue;
    const id = el.dataset.i18n;
    el.textContent = el.dataset.i18nShown = t(id, el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : {});
  }
  for (const attr of ["placeholder", "aria-label", "title"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
  }
}

/**
 * Make `button` switch between Chinese and English. `onChange` re-renders what the page drew itself;
 * a page without one is loaded again in the new language.
 */
export function languageToggle(button, onChange = () => location.reload()) {
  const label = () => {
    button.textContent = lang() === "en" ? "中文" : "EN";
    button.setAttribute("lang", lang() === "en" ? "zh-CN" : "en");
    button.setAttribute("aria-label", lang() === "en" ? "切换到中文" : "Switch to English");
  };
  label();
  button.onclick = () => {
    setLang(lang() === "en" ? "zh" : "en");
    label();
    onChange();
  };
}

/**
 * What to say about a failed call (an ApiError or an error frame), from its code: the page's own
 * table first (`own`: code -> message id), then the shared error.<code> messages, else the server's
 * own message (English) with the code. Returns [id, params] for t() or show().
 */
export function errorMessage(e, own = {}, params = {}) {
  const code = (e && e.code) || "";
  if (own[code]) return [own[code], params];
  if (has(`error.${code}`)) return [`error.${code}`, params];
  return ["error.other", { code: code || "?", message: (e && e.message) || code || "?" }];
}

/** A failed call in the page's language (see errorMessage). */
export const errorText = (e, own = {}, params = {}) => t(...errorMessage(e, own, params));

/** Show message `id` in `el`; it stays in the page's language when the language is switched. */
export function show(el, id, params = {}) {
  el.dataset.i18n = id;
  el.dataset.i18nParams = JSON.stringify(params);
  el.textContent = el.dataset.i18nShown = t(id, params);
}

/** Show a failed call in `el` (see errorMessage), kept in the page's language like show(). */
export const showError = (el, e, own = {}, params = {}) => show(el, ...errorMessage(e, own, params));

// The page's fixed words are translated before any page script runs (this module is imported first),
// so each element remembers what it showed and a later switch leaves what the page wrote since alone.
applyI18n();
