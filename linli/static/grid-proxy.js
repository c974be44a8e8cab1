// 代下单: a grid worker grabs in the live room for a resident of her grid who has no phone.
// On the grid desk (#proxy) she picks the resident and the live session; the room then opens in
// proxy mode: the chosen resident is kept in this tab's sessionStorage (never a token, never in the
// URL), a banner says for whom she is ordering with a way out, and every grab goes for_user her.
import { $, api, el, whoAmI } from "/static/common.js";
import { errorText, show, t } from "/static/i18n.js";

const KEY = "linli-proxy";

/** The resident this tab grabs for in session `sid`, or null (not in proxy mode, or another session). */
export function proxyTarget(sid) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return kept && kept.sid === sid && kept.id ? kept : null;
  } catch { return null; }
}

/** Leave proxy mode and go back to the desk. */
export function leaveProxy() {
  sessionStorage.removeItem(KEY);
  location.href = "/grid";
}

/** The banner on top of the live room: for whom every grab goes, and the way out. */
export function showProxyBanner(target) {
  if (!document.querySelector('link[href="/static/activity.css"]')) {
    const css = el("link");
    css.rel = "stylesheet";
    css.href = "/static/activity.css";
    document.head.append(css);
  }
  const bar = el("div", undefined, "proxy-banner");
  bar.id = "proxy-banner";
  bar.setAttribute("role", "status");
  const out = el("button", t("grid-proxy.stop_ordering_for_her"));
  out.type = "button";
  out.id = "proxy-leave";
  out.onclick = leaveProxy;
  bar.append(el("span", t("grid-proxy.ordering_for_name", { name: target.name })), out);
  document.body.prepend(bar);
}

// ---- the desk ------------------------------------------------------------------------------

/** A labelled field; the label (message `id`) follows a switch of language. */
function field(id, input) {
  const p = el("p");
  const l = el("label");
  show(l, id);
  l.htmlFor = input.id;
  p.append(l, el("br"), input);
  return p;
}

async function buildDesk(box, me) {
  const cid = encodeURIComponent(me.community_id);
  const who = el("select");
  who.id = "proxy-resident";
  const session = el("select");
  session.id = "proxy-session";
  const other = el("input");
  Object.assign(other, { id: "proxy-session-id", placeholder: "s1a2b3c4", autocomplete: "off", className: "wide" });
  const go = el("button", undefined, "grab");
  show(go, "grid-proxy.open_the_live_room");
  go.type = "submit";
  go.id = "proxy-go";
  const result = el("p", undefined, "result");
  result.setAttribute("role", "status");
  const form = el("form", undefined, "proxy-pick");
  form.id = "proxy-form-live";
  form.append(field("grid-proxy.for_whom", who), field("grid-proxy.which_live", session),
              field("grid-proxy.or_a_live_session", other), go);
  const title = el("h2"), why = el("p", undefined, "conn");
  show(title, "grid-proxy.order_for_a_resident");
  show(why, "grid-proxy.for_residents_without_a");
  box.append(title, why, form, result);
  box.hidden = false;
  const [people, windows] = await Promise.all([
    api("GET", `/api/communities/${cid}/residents`),
    api("GET", `/api/communities/${cid}/wish-windows`).catch(() => ({ windows: [] })),
  ]);
  who.replaceChildren(...people.residents.map((r) => new Option([r.name, r.building, r.room].filter(Boolean).join(" "), r.id)));
  const sessions = new Map();
  for (const w of [...(windows.windows || [])].sort((a, b) => (b.live_at || 0) - (a.live_at || 0))) {
    if (!sessions.has(w.session_id)) sessions.set(w.session_id, w.session_title || w.session_id);
  }
  session.replaceChildren(...[...sessions].map(([id, title]) => new Option(title, id)));
  if (!people.residents.length) { result.textContent = t("grid-proxy.no_residents_in_your"); go.disabled = true; }
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const sid = other.value.trim() || session.value;
    const chosen = people.residents.find((r) => r.id === who.value);
    if (!sid || !chosen) { result.textContent = t("grid-proxy.choose_a_resident_and"); result.className = "result no"; return; }
    try {
      await api("GET", `/api/sessions/${encodeURIComponent(sid)}`);  // a wrong number is told here, not in the room
    } catch (e) { result.textContent = errorText(e); result.className = "result no"; return; }
    sessionStorage.setItem(KEY, JSON.stringify({ sid, id: chosen.id, name: chosen.name }));
    location.href = `/live/${encodeURIComponent(sid)}`;
  };
}

const box = $("proxy");
const me = whoAmI();
if (box && me && me.role === "grid" && me.community_id) {
  buildDesk(box, me).catch((e) => { box.hidden = false; box.append(el("p", errorText(e), "result no")); });
}
