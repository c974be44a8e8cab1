// Importing a pasted group-chat 接龙 (the grid desk and the host console): what was read and
// imported, what was imported before, and every refused line as editable text to submit again.
import { api, el } from "/static/common.js";
import { errorText, fmt, t } from "/static/i18n.js";

/** The raw line of the pasted text that carries chain number `n` ("4. 王阿姨 ..."). */
function rawLine(text, n) {
  const lead = new RegExp(`^\\s*${n}\\s*[.、)\\]:,\\-]?\\s*\\S`);
  return text.split("\n").find((l) => lead.test(l.normalize("NFKC"))) || `${n}. `;
}

/** Why a product text was refused, in the page's language. */
function productProblem(u) {
  const code = u.problem_code || u.code || "";
  const byUnit = /sells it by (\S+?),/.exec(u.problem || "");
  if (code === "wrong_unit" || code === "unit_mismatch" || byUnit) {
    return fmt(["单位不对，这个商品按“{unit}”卖", "wrong unit, it is sold by {unit}"], { unit: (u.params || {}).unit || (byUnit ? byUnit[1] : "") });
  }
  if (code === "not_whole" || /whole number/.test(u.problem || "")) return t("数量要是整数");
  return t("目录里没有这个商品");
}

function refusedOf(result, text) {
  return [
    ...result.unparsed.map((line) => ({ why: t("这一行没读懂"), text: line })),
    ...result.unmatched_names.map((u) => ({
      why: fmt(["第{line}条：找不到居民“{name}”", "No. {line}: no resident called “{name}”"], u), text: rawLine(text, u.line) })),
    ...result.unmatched_products.map((u) => ({
      why: fmt(["第{line}条 {name}：“{product}” {problem}", "No. {line} {name}: “{product}”, {problem}"], { ...u, problem: productProblem(u) }),
      text: `${u.line}. ${u.name} ${u.product}${u.qty}${u.unit}` })),
  ];
}

/**
 * Wire an importer: `button` imports `textarea`'s text into window `windowId()` for pickup point
 * `pointSelect`, and `box` shows the review. `describe(line)` names an imported wish line;
 * `onImported()` runs after every import.
 */
export function chainImporter({ textarea, pointSelect, button, box, windowId, describe, onImported = () => {} }) {
  let review = null;

  function render() {
    if (!review) { box.replaceChildren(); return; }
    const parts = [el("h3", fmt(["导入了 {n} 条", "{n} imported"], { n: review.imported.length }))];
    const imported = el("ul", undefined, "items imported");
    imported.replaceChildren(...review.imported.map((w) => el("li", describe(w))));
    parts.push(imported);
    if (review.already) {
      parts.push(el("p", fmt(["{n} 条以前导入过，不会重复计算", "{n} were imported before and are not counted twice"], { n: review.already }), "conn already"));
    }
    if (review.notYours.length) {
      // Lines for residents of another grid: theirs to enter, so nothing to fix here.
      parts.push(el("h3", fmt(["{n} 条是别的网格的居民，没有导入", "{n} are residents of another grid: not imported"], { n: review.notYours.length }), "conn"));
      const list = el("ul", undefined, "items not-yours");
      list.replaceChildren(...review.notYours.map((u) => el("li", fmt(["第{line}条：{name}", "No. {line}: {name}"], u))));
      parts.push(list);
    }
    if (review.refused.length) {
      parts.push(el("h3", fmt(["{n} 条没有导入，请改一下再提交", "{n} not imported: fix them and submit again"], { n: review.refused.length }), "no"));
      const list = el("ul", undefined, "items refused");
      list.replaceChildren(...review.refused.map((row, i) => {
        const li = el("li", undefined, "refused-line");
        const input = el("input", undefined, "wide");
        input.value = row.text;
        input.id = `${box.id}-fix-${i}`;
        const label = el("label", row.why);
        label.htmlFor = input.id;
        const again = el("button", t("改好了，重新提交"));
        again.type = "button";
        again.onclick = () => resubmit(i, input.value);
        li.append(label, input, again);
        return li;
      }));
      parts.push(list);
    } else if (review.imported.length || review.already) {
      parts.push(el("p", t("全部导入好了"), "result ok"));
    }
    box.replaceChildren(...parts);
  }

  const send = (text) => api("POST", `/api/wish-windows/${windowId()}/chain`, { text, pickup_point_id: pointSelect.value });

  button.onclick = async () => {
    const text = textarea.value;
    if (!text.trim()) return;
    try {
      const result = await send(text);
      review = { imported: result.imported, already: result.already_imported, refused: refusedOf(result, text),
                 notYours: result.not_yours || [] };
      render();
      onImported();
    } catch (e) { box.replaceChildren(el("p", errorText(e), "result no")); }
  };

  async function resubmit(i, text) {
    // Only the fixed line goes again: what the chain brought in before keeps its key, so nothing
    // is counted twice, and a fixed line submitted twice is taken once.
    try {
      const result = await send(text);
      review.imported.push(...result.imported);
      review.already += result.already_imported;
      review.notYours.push(...(result.not_yours || []));
      review.refused.splice(i, 1, ...refusedOf(result, text));
      render();
      onImported();
    } catch (e) { box.append(el("p", errorText(e), "result no")); }
  }

  return { render };
}
