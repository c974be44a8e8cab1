// The front page: signing in, the demo's chooser and where a signed-in person goes next.
// A file rather than an inline script: the pages' Content-Security-Policy runs scripts from this origin only.
import { $, api, el, largeTextToggle, localTime, signInAndGo, token, whoAmI } from "/static/common.js";
import { noticesInbox } from "/static/notices.js";

const ROLES = { resident: "居民", host: "主播", grid: "网格员", supplier: "供应商", pickup: "自提点店员", admin: "社区管理员", operator: "平台运营" };

function link(text, href, cls = "big-link") { const a = el("a", text, cls); a.href = href; return a; }

/** Where the signed-in person goes from here; a resident's windows come from her community's list. */
async function showMine() {
  const me = whoAmI();
  if (!token || !me) return;
  $("mine").hidden = false;
  $("who").textContent = `已登录：${me.user_id}（${ROLES[me.role] || me.role}）`;
  const links = [];
  if (me.role === "host") links.push(link("主播控制台", "/host"));
  if (me.role === "grid") links.push(link("网格员工作台", "/grid"));
  if (me.role === "supplier") links.push(link("供应商看板", "/supplier"));
  if (me.role === "resident") links.push(link("我的积分 · 兑换", "/points"));
  if (me.role === "admin") links.push(link("社区办公室", "/office"));
  if (me.community_id && me.role !== "supplier") links.push(link("社区基金公示", `/fund/${me.community_id}`, "big-link secondary"));
  if (me.role === "pickup") links.push(link("自提点柜台", "/pickup"));
  if (me.role === "resident") links.push(link("我的订单 · 取货码", "/orders"));
  if (me.role === "resident") links.push(link("谁替我办过事", "/activity", "big-link secondary"));
  if (["resident", "grid", "host"].includes(me.role) && me.community_id) {
    try {
      const data = await api("GET", `/api/communities/${me.community_id}/wish-windows`);
      for (const w of data.windows || []) {
        const title = w.session_title || w.session_id;
        if (w.accepting && me.role === "resident") links.push(link(`${title} · 填心愿（${localTime(w.cutoff_at)} 截单）`, `/wishes/${w.id}`));
        if (w.status === "aggregated" && me.role === "resident") {
          links.push(link(`${title} · 看我的预留`, `/wishes/${w.id}`, "big-link secondary"));
          links.push(link(`${title} · 进直播间确认`, `/live/${w.session_id}`));
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
  $("demo").hidden = false;
  $("people").replaceChildren(...demo.people.map((p) => {
    const li = el("li", undefined, "person-row");
    li.dataset.role = p.role;
    li.append(el("strong", p.name, "who"));
    const go = el("span", undefined, "go");
    for (const l of p.links) {
      const a = link(l.label, l.url, "big-link");
      // Sign in as this person on this browser, then open the page: the link itself carries no token.
      a.onclick = (ev) => { ev.preventDefault(); signInAndGo(p.token, l.url); };
      go.append(a);
    }
    li.append(go);
    return li;
  }));
});

$("signin").onsubmit = (ev) => {
  ev.preventDefault();
  const given = $("token").value.trim(), where = $("where").value.trim();
  let role = "";
  try { role = JSON.parse(atob(given.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).role; } catch { /* checked below */ }
  if (!role) { $("result").textContent = "令牌不对，请再核对一下"; $("result").className = "result no"; return; }
  const q = encodeURIComponent(where);
  if (role === "host") signInAndGo(given, "/host" + (where ? `?session=${q}` : ""));
  else if (role === "supplier") signInAndGo(given, "/supplier");
  else if (role === "grid") signInAndGo(given, "/grid");
  else if (role === "pickup") signInAndGo(given, "/pickup");
  else if (where.startsWith("w")) signInAndGo(given, `/wishes/${q}`);
  else if (where) signInAndGo(given, `/live/${q}`);
  else signInAndGo(given, "/");
};
largeTextToggle($("big-text"));
showMine();
