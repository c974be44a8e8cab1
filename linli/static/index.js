// The front page: signing in, the demo's chooser and where a signed-in person goes next.
// A file rather than an inline script: the pages' Content-Security-Policy runs scripts from this origin only.
import { $, api, el, largeTextToggle, localTime, signInAndGo, token, whoAmI } from "/static/common.js";
import { applyI18n, has, languageToggle, t } from "/static/i18n.js";
import { noticesInbox } from "/static/notices.js";

function link(text, href, cls = "big-link") { const a = el("a", text, cls); a.href = href; return a; }

// The demo's pages by where they lead (the server's labels are Chinese); a link not listed keeps its label.
const DEMO_PAGES = [[/^\/live\//, "index.demo.live"], [/^\/wishes\//, "index.demo.next_window"], [/^\/points$/, "index.demo.points"],
                    [/^\/orders$/, "index.demo.orders"], [/^\/activity$/, "index.link.activity"], [/^\/grid$/, "index.link.grid"],
                    [/^\/pickup$/, "index.link.pickup"], [/^\/supplier$/, "index.link.supplier"], [/^\/office$/, "index.link.office"],
                    [/^\/fund\//, "index.demo.fund"]];

/** A demo link's label in the page's language. */
function demoLabel(l, today) {
  const path = l.url.split("?")[0];
  if (path === "/host") return t(l.url.endsWith(`session=${today}`) ? "index.demo.today" : "index.demo.next_window");
  const known = DEMO_PAGES.find(([re]) => re.test(path));
  return known ? t(known[1]) : l.label;
}

/** Where the signed-in person goes from here; a resident's windows come from her community's list. */
async function showMine() {
  const me = whoAmI();
  if (!token || !me) return;
  $("mine").hidden = false;
  $("who").textContent = t("index.signed_in_as", { user: me.user_id, role: has(`index.role.${me.role}`) ? t(`index.role.${me.role}`) : me.role });
  const links = [];
  if (me.role === "host") links.push(link(t("index.link.host"), "/host"));
  if (me.role === "grid") links.push(link(t("index.link.grid"), "/grid"));
  if (me.role === "supplier") links.push(link(t("index.link.supplier"), "/supplier"));
  if (me.role === "resident") links.push(link(t("index.link.points"), "/points"));
  if (me.role === "admin") links.push(link(t("index.link.office"), "/office"));
  if (me.community_id && me.role !== "supplier") links.push(link(t("index.link.fund"), `/fund/${me.community_id}`, "big-link secondary"));
  if (me.role === "pickup") links.push(link(t("index.link.pickup"), "/pickup"));
  if (me.role === "resident") links.push(link(t("index.link.orders"), "/orders"));
  if (me.role === "resident") links.push(link(t("index.link.activity"), "/activity", "big-link secondary"));
  if (["resident", "grid", "host"].includes(me.role) && me.community_id) {
    try {
      const data = await api("GET", `/api/communities/${me.community_id}/wish-windows`);
      for (const w of data.windows || []) {
        const title = w.session_title || w.session_id;
        if (w.accepting && me.role === "resident") links.push(link(t("index.link.make_wishes", { title, when: localTime(w.cutoff_at) }), `/wishes/${w.id}`));
        if (w.status === "aggregated" && me.role === "resident") {
          links.push(link(t("index.link.see_holds", { title }), `/wishes/${w.id}`, "big-link secondary"));
          links.push(link(t("index.link.confirm_in_live", { title }), `/live/${w.session_id}`));
        }
      }
    } catch { /* the links above still work */ }
  }
  $("my-links").replaceChildren(...links.map((a) => { const li = el("li"); li.append(a); return li; }));
  if (me.role === "resident") {
    $("inbox").hidden = false;
    noticesInbox($("inbox"), $("notices")).reload();
  }
}

// The demo's printed links name a person (/?as=wang-ayi), never a token: sign in as them here.
// Only a demo server asks (its front page says so); anywhere else /api/demo is not served.
const as = new URLSearchParams(location.search).get("as");
const demoMode = document.querySelector('meta[name="linli-demo"]')?.content === "on";
(demoMode ? fetch("/api/demo") : Promise.resolve(null)).then((r) => r && r.ok ? r.json() : null).then((demo) => {
  if (!demo || !demo.people.length) return;
  const chosen = as && demo.people.find((p) => p.user_id === as);
  if (chosen) { signInAndGo(chosen.token, chosen.url); return; }
  showChooser(demo);
});

function showChooser(demo) {
  $("demo").hidden = false;
  $("people").replaceChildren(...demo.people.map((p) => {
    const li = el("li", undefined, "person-row");
    li.dataset.role = p.role;
    li.append(el("strong", p.name, "who"));
    const go = el("span", undefined, "go");
    for (const l of p.links) {
      const a = link(demoLabel(l, demo.session_id), l.url, "big-link");
      // Sign in as this person on this browser, then open the page: the link itself carries no token.
      a.onclick = (ev) => { ev.preventDefault(); signInAndGo(p.token, l.url); };
      go.append(a);
    }
    li.append(go);
    return li;
  }));
}

$("signin").onsubmit = (ev) => {
  ev.preventDefault();
  const given = $("token").value.trim(), where = $("where").value.trim();
  let role = "";
  try { role = JSON.parse(atob(given.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).role; } catch { /* checked below */ }
  if (!role) { $("result").textContent = t("index.bad_token"); $("result").className = "result no"; return; }
  const q = encodeURIComponent(where);
  if (role === "host") signInAndGo(given, "/host" + (where ? `?session=${q}` : ""));
  else if (role === "supplier") signInAndGo(given, "/supplier");
  else if (role === "grid") signInAndGo(given, "/grid");
  else if (role === "pickup") signInAndGo(given, "/pickup");
  else if (where.startsWith("w")) signInAndGo(given, `/wishes/${q}`);
  else if (where) signInAndGo(given, `/live/${q}`);
  else signInAndGo(given, "/");
};
applyI18n();
largeTextToggle($("big-text"));
languageToggle($("lang"));
showMine();
