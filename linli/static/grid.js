// The grid worker's desk, at phone width: find a resident of my grid, enter or change a wish for
// her, paste a group-chat 接龙 and fix the lines it could not take before they count.
import { $, api, el, largeTextToggle, localTime } from "/static/common.js";
import { chainImporter } from "/static/chain.js";
import { applyI18n, errorText, lang, languageToggle, show, showError, t } from "/static/i18n.js";

const WINDOW_KEY = "linli-grid-window";
const state = { me: null, windows: [], win: null, people: new Map(), person: null };

const productOf = (id) => state.win && state.win.products.find((p) => p.id === id);
const pointName = (id) => { const p = state.win && state.win.pickup_points.find((x) => x.id === id); return p ? p.name : id; };
const personName = (id) => (state.people.get(id) || {}).name || id;
const place = (r) => [r.building, r.room].filter(Boolean).join(" ");

const status = (id, params) => show($("status"), id, params);
function say(node, text, ok) { node.textContent = text; node.className = "result " + (ok ? "ok" : "no"); }

// ---- the window ----------------------------------------------------------------------------

async function loadWindows() {
  const data = await api("GET", `/api/communities/${state.me.community_id}/wish-windows`);
  state.windows = (data.windows || []).filter((w) => w.status === "open");
  const kept = localStorage.getItem(WINDOW_KEY);
  $("window").replaceChildren(...state.windows.map((w) => new Option("", w.id)));
  labelWindows();
  if (!state.windows.length) { status("grid.no_wish_window_is"); return; }
  $("window").value = state.windows.some((w) => w.id === kept) ? kept : state.windows[0].id;
  await openWindow($("window").value);
}

/** The window chooser's options in the page's language. */
function labelWindows() {
  for (const [i, w] of state.windows.entries()) {
    $("window").options[i].text = t("grid.title_cutoff_when", { title: w.session_title || w.title || w.session_id, when: localTime(w.cutoff_at, lang()) });
  }
}

async function openWindow(wid) {
  localStorage.setItem(WINDOW_KEY, wid);
  state.win = await api("GET", `/api/wish-windows/${wid}`);
  $("window-info").textContent = state.win.accepting
    ? t("grid.cutoff_when", { when: localTime(state.win.cutoff_at, lang()) })
    : t("grid.closed_no_more_wishes");
  const points = state.win.pickup_points.map((p) => new Option(p.name, p.id));
  $("point").replaceChildren(...points.map((o) => o.cloneNode(true)));
  $("chain-point").replaceChildren(...points);
  $("product").replaceChildren(...state.win.products.map((p) => new Option(t("common.paren", { a: p.name, b: p.unit }), p.id)));
  $("proxy-add").disabled = $("chain-go").disabled = !state.win.accepting;
  status("grid.connected");
  if (state.person) openPerson(state.person);
}

// ---- residents -----------------------------------------------------------------------------

let searchTimer = 0;
async function search() {
  const q = $("search").value.trim();
  try {
    const data = await api("GET", `/api/communities/${state.me.community_id}/residents` + (q ? `?q=${encodeURIComponent(q)}` : ""));
    for (const r of data.residents) state.people.set(r.id, r);
    $("people").replaceChildren(...(data.residents.length ? data.residents.map((r) => {
      const li = el("li");
      const b = el("button", undefined, "person");
      b.type = "button";
      b.append(el("strong", r.name), el("span", place(r), "place"));
      b.onclick = () => openPerson(r);
      li.append(b);
      return li;
    }) : [el("li", t("grid.nobody_found_try_another"))]));
  } catch (e) { showError($("status"), e); }
}

async function openPerson(r) {
  state.person = r;
  $("person").hidden = false;
  $("person-title").textContent = t("grid.wishes_for_name_place", { name: r.name, place: place(r) || "—" });
  say($("person-result"), "", true);
  if (!state.win) return;
  try {
    const data = await api("GET", `/api/wish-windows/${state.win.id}/wishes?resident_id=${encodeURIComponent(r.id)}`);
    const lines = data.wishes.filter((w) => w.status === "active");
    $("person-wishes").replaceChildren(...(lines.length ? lines.map((w) => wishRow(w)) : [el("li", t("grid.no_wishes_yet"))]));
  } catch (e) { say($("person-result"), errorText(e), false); }
  $("person").scrollIntoView({ block: "start" });
}

function wishRow(w) {
  const p = productOf(w.product_id);
  const li = el("li", undefined, "wish");
  li.append(el("span", `${p ? p.name : w.free_text} ${w.qty}${p ? p.unit : ""} · ${pointName(w.pickup_point_id)}`, "what"));
  if (state.win.accepting) {
    const actions = el("div", undefined, "actions");
    const edit = el("button", t("common.change"));
    edit.type = "button";
    edit.onclick = async () => {
      const qty = Number(prompt(t("common.new_quantity"), String(w.qty)));
      if (!(qty > 0)) return;
      try {
        await api("PATCH", `/api/wish-windows/${state.win.id}/wishes/${w.id}`, { qty });
        await openPerson(state.person);
        say($("person-result"), t("common.changed"), true);
      } catch (e) { say($("person-result"), errorText(e), false); }
    };
    const drop = el("button", t("common.remove"));
    drop.type = "button";
    drop.onclick = async () => {
      try {
        await api("DELETE", `/api/wish-windows/${state.win.id}/wishes/${w.id}`);
        await openPerson(state.person);
        say($("person-result"), t("common.wish_removed"), true);
      } catch (e) { say($("person-result"), errorText(e), false); }
    };
    actions.append(edit, drop);
    li.append(actions);
  }
  return li;
}

$("proxy-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", `/api/wish-windows/${state.win.id}/wishes`, {
      resident_id: state.person.id, product_id: $("product").value, qty: Number($("qty").value),
      pickup_point_id: $("point").value });
    await openPerson(state.person);
    say($("person-result"), t("grid.added_for_her"), true);
  } catch (e) { say($("person-result"), errorText(e), false); }
};

// ---- the 接龙 ------------------------------------------------------------------------------

const chain = chainImporter({
  textarea: $("chain-text"), pointSelect: $("chain-point"), button: $("chain-go"), box: $("review"),
  windowId: () => state.win.id,
  describe: (w) => { const p = productOf(w.product_id); return `${personName(w.resident_id)} · ${p ? p.name : w.product_id} ${w.qty}${p ? p.unit : ""}`; },
  onImported: () => { if (state.person) openPerson(state.person); },
});

// ---- start ---------------------------------------------------------------------------------

$("search").oninput = () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 250); };
$("window").onchange = () => openWindow($("window").value).catch((e) => showError($("status"), e));
largeTextToggle($("big-text"));
languageToggle($("lang"), () => { if (state.win) openWindow(state.win.id); labelWindows(); search(); chain.render(); });
applyI18n();
(async () => {
  try {
    state.me = await api("GET", "/api/me");
    await search();
    await loadWindows();
  } catch (e) { showError($("status"), e); }
})();
