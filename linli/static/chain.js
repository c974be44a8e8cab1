// Importing a pasted group-chat 接龙 (the grid desk and the host console) in three steps:
// paste and read → a review of every line (what it will do, in plain words; choose who or what where
// the chain is not clear, skip a line) → confirm → what was written. Nothing is written before the
// confirm; the confirm sends what the review showed (each line's sig), so a line that changed in the
// meantime is reported rather than written.
import { api, el } from "/static/common.js";
import { errorText, t } from "/static/i18n.js";

const STATUS = {
  new: "chain.status.new",
  already_imported: "chain.status.already_imported",
  app_duplicate: "chain.status.app_duplicate",
  edit: "chain.status.edit",
  unmatched_name: "chain.status.unmatched_name",
  unmatched_product: "chain.status.unmatched_product",
  not_yours: "chain.status.not_yours",
  question: "chain.status.question",
  unparsed: "chain.status.unparsed",
  skipped: "chain.status.skipped",
};
const KIND = { add: "chain.kind.add", replace: "chain.kind.replace", withdraw: "chain.kind.withdraw" };
const DONE = {
  written: "chain.done.written", skipped: "chain.done.skipped",
  changed: "chain.done.changed",
};
const ERRORS = {
  import_changed: "chain.errors.import_changed",
  unknown_row: "chain.errors.unknown_row",
};
const say = (id, params) => t(id, params);
const failText = (e) => (ERRORS[e && e.code] ? say(ERRORS[e.code]) : errorText(e));

function addStyles() {
  if (document.querySelector('link[href="/static/chain.css"]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/chain.css";
  document.head.append(link);
}

/**
 * Wire an importer: `button` reads `textarea`'s text for window `windowId()` with pickup point
 * `pointSelect`, and `box` shows the review, the confirm button and the result. `onImported()` runs
 * after every confirm. (`describe` is accepted for older callers; the lines name themselves now.)
 */
export function chainImporter({ textarea, pointSelect, button, box, windowId, onImported = () => {} }) {
  addStyles();
  // What the grid worker decided, by ref ("4.0") or row ("4"): resident_id, product_id, qty, skip, accept_duplicate.
  let fixes = {};
  let chainProduct = ""; // the product of a one-product chain, chosen once for every line that names none
  let text = "";
  let preview = null;
  let result = null;
  let choices = { products: [], residents: [] };
  let busy = false;
  let asked = 0; // previews answer in any order: only the latest one is shown

  const body = (extra = {}) => ({
    text, pickup_point_id: pointSelect.value, ...(chainProduct ? { product_id: chainProduct } : {}),
    // "remember" stays on the page: after the confirm it saves the line's name as her alias.
    corrections: Object.entries(fixes).map(([ref, { remember, ...f }]) => ({ ref, ...f }))
      .filter((c) => Object.keys(c).length > 1),
    ...extra,
  });

  async function loadChoices() {
    const win = await api("GET", `/api/wish-windows/${windowId()}`);
    const people = await api("GET", `/api/communities/${win.community_id}/residents`).catch(() => ({ residents: [] }));
    choices = { products: win.products, residents: people.residents, community: win.community_id };
  }

  async function read() {
    const mine = ++asked;
    const answer = await api("POST", `/api/wish-windows/${windowId()}/chain/preview`, body());
    if (mine !== asked) return;
    preview = answer;
    render();
  }

  // Another pickup point changes what the lines will be: read them again before the confirm.
  pointSelect.addEventListener("change", () => {
    if (preview && !result) read().catch((e) => box.append(el("p", failText(e), "result no")));
  });

  function fix(ref, field, value) {
    const f = { ...(fixes[ref] || {}) };
    if (value === "" || value === false || value === null || Number.isNaN(value)) delete f[field];
    else f[field] = value;
    if (Object.keys(f).length) fixes[ref] = f; else delete fixes[ref];
    read().catch((e) => box.append(el("p", failText(e), "result no")));
  }

  function reading(ln) {
    const who = ln.resident_name || ln.name || ln.household || "";
    const what = ln.product_name || ln.product_text || "";
    if (ln.status === "edit" && ln.effect) {
      return say("chain.edit_effect", { who, what, unit: ln.unit, from: ln.effect.before, to: ln.effect.after });
    }
    if (ln.status === "new" || ln.status === "already_imported" || ln.status === "app_duplicate") {
      const point = (choices.points || []).find((p) => p.id === ln.pickup_point_id);
      return `${who} · ${what} ${ln.qty || ""}${ln.unit || ""}${point ? " · " + point.name : ""}`;
    }
    if (ln.status === "question" && ln.free_text) {
      return `${who || say("chain.who")} · ${ln.free_text} ${ln.written_qty || ""}${ln.written_unit || ""}`;
    }
    if (ln.status === "unmatched_product" || ln.status === "unmatched_name") {
      return `${who} · ${ln.product_text || what} ${ln.written_qty || ""}${ln.written_unit || ""}`;
    }
    return "";
  }

  let firstOrder = 0; // rows above the first order are the chain's title and notes, not lines gone unread

  function statusWord(ln) {
    if (ln.skipped) return say(STATUS.skipped);
    if (ln.status === "unparsed" && ln.row < firstOrder) return say("chain.the_chains_title_or");
    if (ln.status === "edit") return say("common.label_value", { label: say(STATUS.edit), value: say(KIND[ln.kind] || STATUS.edit) });
    if (ln.status === "question" && ln.free_text) {
      return ln.resident_id ? say("chain.a_question_noted_as")
        : say("chain.a_question_who_wants");
    }
    if (ln.status === "unmatched_name" && (ln.candidates || []).length > 1) return say("chain.several_choose_one");
    return say(STATUS[ln.status] || STATUS.unparsed);
  }

  function select(id, label, options, chosen, onChange) {
    const wrap = el("p", undefined, "chain-choice");
    const lab = el("label", label);
    lab.htmlFor = id;
    const sel = el("select");
    sel.id = id;
    sel.append(new Option(say("chain.choose"), ""), ...options.map(([value, name]) => new Option(name, value)));
    sel.value = chosen || "";
    sel.onchange = () => onChange(sel.value);
    wrap.append(lab, document.createElement("br"), sel);
    return wrap;
  }

  function check(id, label, checked, onChange) {
    const wrap = el("p", undefined, "chain-check");
    const box_ = el("input");
    box_.type = "checkbox";
    box_.id = id;
    box_.checked = Boolean(checked);
    box_.onchange = () => onChange(box_.checked);
    const lab = el("label", label);
    lab.htmlFor = id;
    wrap.append(box_, lab);
    return wrap;
  }

  function controls(ln, first) {
    const parts = [];
    const id = `${box.id}-${ln.ref.replace(".", "-")}`;
    const row = String(ln.row);
    const unknown = ln.status === "unmatched_name" || (ln.status === "question" && ln.free_text && !ln.resident_id);
    if (first && (unknown || (fixes[row] && fixes[row].resident_id))) {
      // The line's candidates first, then everyone else she may import for (王阿姨 may be 赵秀英).
      const likely = new Set((ln.candidates || []).map((c) => c.id));
      const others = choices.residents.filter((r) => !likely.has(r.id))
        .map((r) => ({ id: r.id, name: r.name, household: [r.building, r.room].filter(Boolean).join("-") }));
      parts.push(select(`${id}-who`, say("chain.who_is_it"),
                        [...(ln.candidates || []), ...others].map((c) => [c.id, c.household ? say("common.paren", { a: c.name, b: c.household }) : c.name]),
                        (fixes[row] || {}).resident_id, (v) => fix(row, "resident_id", v)));
      const chosen = choices.residents.find((r) => r.id === (fixes[row] || {}).resident_id);
      if (chosen && ln.name && ln.name !== chosen.name && !(chosen.aliases || []).includes(ln.name)) {
        // Next week's chain then finds her by this name without asking.
        parts.push(check(`${id}-remember`, say("chain.remember_name_in_the",
                                                { name: ln.name, who: chosen.name }),
                         (fixes[row] || {}).remember, (v) => { fixes[row] = { ...fixes[row], remember: v || undefined }; }));
      }
    }
    if (ln.status === "unmatched_product" || (fixes[ln.ref] && (fixes[ln.ref].product_id || fixes[ln.ref].qty))) {
      const likely = new Set((ln.product_candidates || []).map((p) => p.id));
      const offered = [...(ln.product_candidates || []), ...choices.products.filter((p) => !likely.has(p.id))];
      if (ln.problem) parts.push(el("p", problemText(ln), "no"));
      if (!ln.from_header) { // the chain's one product is chosen once, above the lines
        parts.push(select(`${id}-what`, say("chain.which_product"),
                          offered.map((p) => [p.id, say("common.paren", { a: p.name, b: say("chain.by_unit", p) })]),
                          (fixes[ln.ref] || {}).product_id,
                          (v) => fix(ln.ref, "product_id", v)));
      }
      const qwrap = el("p", undefined, "chain-choice");
      const qlab = el("label", say("chain.quantity_unit", { unit: ln.unit || "" }));
      qlab.htmlFor = `${id}-qty`;
      const qty = el("input");
      qty.type = "number"; qty.min = "1"; qty.max = "10000"; qty.inputMode = "numeric"; qty.id = `${id}-qty`;
      qty.value = (fixes[ln.ref] || {}).qty || ln.suggested_qty || "";
      qty.onchange = () => fix(ln.ref, "qty", qty.value ? Number(qty.value) : "");
      qwrap.append(qlab, document.createElement("br"), qty);
      parts.push(qwrap);
    }
    if (ln.status === "app_duplicate" || ln.accepted_duplicate) {
      const d = ln.duplicate || {};
      parts.push(el("p", say("chain.she_already_wished_for",
                              { qty: d.qty, unit: ln.unit }), "conn"));
      parts.push(check(`${id}-extra`, say("chain.she_wants_this_as"),
                       (fixes[ln.ref] || {}).accept_duplicate, (v) => fix(ln.ref, "accept_duplicate", v)));
    }
    if (["new", "edit", "unmatched_name", "unmatched_product", "app_duplicate"].includes(ln.status) || ln.skipped
        || (ln.status === "question" && ln.free_text)) {
      parts.push(check(`${id}-skip`, say("chain.skip_this_line"), (fixes[ln.ref] || {}).skip,
                       (v) => fix(ln.ref, "skip", v)));
    }
    return parts;
  }

  function problemText(ln) {
    const p = ln.problem || "";
    if (/sells it by/.test(p)) return say("chain.wrong_unit_it_is", { unit: ln.unit });
    if (/whole number/.test(p)) return say("chain.the_quantity_must_be");
    if (/no such product/.test(p)) return say("chain.not_in_the_catalog");
    return say("chain.choose_the_product");
  }

  /** The lines by what they will do, in the order a grid worker reads them (the title and notes apart). */
  function countText(lines) {
    const counts = new Map();
    for (const ln of lines) {
      const word = ln.status === "edit" && !ln.skipped ? say(STATUS.edit) : statusWord(ln);
      counts.set(word, (counts.get(word) || 0) + 1);
    }
    return [...counts].map(([word, n]) => `${word} ${n}`).join(" · ");
  }

  function render() {
    if (!preview && !result) { box.replaceChildren(); return; }
    const parts = [];
    const shown = result || preview;
    if (result) {
      const written = result.lines.filter((l) => l.done === "written");
      parts.push(el("h3", say("chain.n_written_added_new",
                               { n: written.length, added: written.filter((l) => l.status !== "edit").length,
                                 edited: written.filter((l) => l.status === "edit").length }), "result ok"));
      if (result.changed.length) {
        parts.push(el("p", say("chain.n_lines_changed_while",
                                { n: result.changed.length }), "result no"));
      }
    } else {
      parts.push(el("h3", say("chain.n_lines_read_please", { n: preview.lines.length })));
    }
    firstOrder = Math.min(...shown.lines.filter((l) => !["unparsed", "question"].includes(l.status)).map((l) => l.row), Infinity);
    parts.push(el("p", countText(shown.lines), "chain-counts"));
    const fromHeader = shown.lines.filter((l) => l.from_header);
    if (!result && (chainProduct || fromHeader.some((l) => l.status === "unmatched_product" && !l.product_id))) {
      // A one-product chain whose header does not say which catalog product: chosen once, for every line.
      const likely = new Set(fromHeader.flatMap((l) => (l.product_candidates || []).map((p) => p.id)));
      const offered = [...choices.products.filter((p) => likely.has(p.id)), ...choices.products.filter((p) => !likely.has(p.id))];
      parts.push(select(`${box.id}-chain-product`, say("chain.which_product_is_this"),
                        offered.map((p) => [p.id, say("common.paren", { a: p.name, b: say("chain.by_unit", p) })]), chainProduct,
                        (v) => { chainProduct = v; read().catch((e) => box.append(el("p", failText(e), "result no"))); }));
    }
    const list = el("ol", undefined, "chain-lines");
    const firstOfRow = new Set();
    list.replaceChildren(...shown.lines.map((ln) => {
      const li = el("li", undefined, `chain-line ${ln.skipped ? "skipped" : ln.status}`);
      li.dataset.ref = ln.ref;
      li.dataset.status = ln.skipped ? "skipped" : ln.status;
      const first = !firstOfRow.has(ln.row);
      firstOfRow.add(ln.row);
      li.append(el("p", ln.row ? say("chain.row_row_text", ln) : ln.text, "pasted"));
      const head = el("p", undefined, "reading");
      head.append(el("span", statusWord(ln), "badge"), " ", el("span", reading(ln), "what"));
      li.append(head);
      if (result) {
        if (DONE[ln.done]) li.append(el("p", say(DONE[ln.done]), ln.done === "changed" ? "no" : "done"));
      } else {
        li.append(...controls(ln, first));
      }
      return li;
    }));
    parts.push(list);
    if (!result) {
      const writes = preview.lines.filter((l) => !l.skipped && (l.status === "new" || l.status === "edit"
        || (l.status === "question" && l.free_text && l.resident_id))).length;
      const go = el("button", say("chain.confirm_import_n", { n: writes }), "grab confirm");
      go.type = "button";
      go.disabled = !writes;
      go.onclick = confirm;
      parts.push(go);
    } else {
      if (result.changed.length) {
        const reread = el("button", say("chain.read_this_chain_again"));
        reread.type = "button";
        reread.onclick = () => { result = null; read().catch((e) => box.append(el("p", failText(e), "result no"))); };
        parts.push(reread, " ");
      }
      const again = el("button", say("chain.paste_another"));
      again.type = "button";
      again.onclick = () => { preview = null; result = null; fixes = {}; textarea.value = ""; render(); textarea.focus(); };
      parts.push(again);
    }
    box.replaceChildren(...parts);
  }

  /** Save the names the grid worker asked to remember as the residents' aliases. */
  async function rememberNames() {
    const byRow = new Map(preview.lines.map((l) => [String(l.row), l]));
    for (const [row, f] of Object.entries(fixes)) {
      const ln = byRow.get(row);
      const person = f.remember && ln && choices.residents.find((r) => r.id === f.resident_id);
      if (!person || (person.aliases || []).includes(ln.name)) continue;
      try {
        const saved = await api("PATCH", `/api/communities/${choices.community}/residents/${person.id}`,
                                { aliases: [...(person.aliases || []), ln.name].slice(-10) });
        person.aliases = saved.aliases;
      } catch (e) { box.append(el("p", failText(e), "result no")); }
    }
  }

  async function confirm() {
    if (busy) return;
    busy = true;
    try {
      const seen = Object.fromEntries(preview.lines.map((l) => [l.ref, l.sig]));
      result = await api("POST", `/api/wish-windows/${windowId()}/chain`, body({ seen }));
      await rememberNames();
      render();
      onImported();
    } catch (e) { box.append(el("p", failText(e), "result no")); } finally { busy = false; }
  }

  button.onclick = async () => {
    if (!textarea.value.trim()) return;
    text = textarea.value;
    fixes = {};
    chainProduct = "";
    result = null;
    try {
      await loadChoices();
      choices.points = [...pointSelect.options].map((o) => ({ id: o.value, name: o.textContent }));
      await read();
    } catch (e) { box.replaceChildren(el("p", failText(e), "result no")); }
  };

  return { render };
}
