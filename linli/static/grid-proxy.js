// 代下单: a grid worker grabs in the live room for a resident of her grid who has no phone.
// On the grid desk (#proxy) she picks the resident and the live session; the room then opens in
// proxy mode: the chosen resident is kept in this tab's sessionStorage (never a token, never in the
// URL), a banner says for whom she is ordering with a way out, and every grab goes for_user her.
import { $, api, el, whoAmI } from "/static/common.js";
import { errorText, fmt } from "/static/i18n.js";

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
  const out = el("button", fmt(["退出代下单", "Stop ordering for her"]));
  out.type = "button";
  out.id = "proxy-leave";
  out.onclick = leaveProxy;
  bar.append(el("span", fmt(["正在为 {name} 代下单", "Ordering for {name}"], { name: target.name })), out);
  document.body.prepend(bar);
}

// ---- the desk ------------------------------------------------------------------------------

function field(label, input) {
  const p = el("p");
  const l = el("label", label);
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
  const go = el("button", fmt(["进直播间替她抢", "Open the live room for her"]), "grab");
  go.type = "submit";
  go.id = "proxy-go";
  const result = el("p", undefined, "result");
  result.setAttribute("role", "status");
  const form = el("form", undefined, "proxy-pick");
  form.id = "proxy-form-live";
  form.append(field(fmt(["替谁下单", "For whom"]), who), field(fmt(["哪场直播", "Which live"]), session),
              field(fmt(["或者输入直播间编号", "Or a live session number"]), other), go);
  box.append(el("h2", fmt(["代下单（直播间）", "Order for a resident (live room)"])),
             el("p", fmt(["给不会用手机的居民抢购：选好人和直播，进去后每一单都记在她名下。",
                          "For residents without a phone: every order you grab goes to her name."]), "conn"),
             form, result);
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
  if (!people.residents.length) { result.textContent = fmt(["您的网格里还没有居民", "No residents in your grid yet"]); go.disabled = true; }
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const sid = other.value.trim() || session.value;
    const chosen = people.residents.find((r) => r.id === who.value);
    if (!sid || !chosen) { result.textContent = fmt(["请选好居民和直播", "Choose a resident and a live"]); result.className = "result no"; return; }
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
