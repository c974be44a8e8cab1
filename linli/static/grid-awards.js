// The grid desk's "奖励志愿积分": a grid worker awards points to a resident of her grid who helped
// (sorting deliveries, visiting a neighbour). Built into the desk's #awards section; the server
// keeps each award once per request id and tells the resident in her record of who did what.
import { $, api, el, whoAmI } from "/static/common.js";
import { applyI18n, errorText, show, t } from "/static/i18n.js";

const box = $("awards");
const me = whoAmI();

/** A labelled field; the label (message `id`) follows a switch of language. */
function field(id, input) {
  const p = el("p");
  const l = el("label");
  show(l, id);
  l.htmlFor = input.id;
  p.append(l, el("br"), input);
  return p;
}

function build() {
  const who = el("select");
  who.id = "award-resident";
  who.required = true;
  const points = el("input");
  Object.assign(points, { id: "award-points", type: "number", min: 1, max: 1000, value: 10, required: true, inputMode: "numeric" });
  const reason = el("input");
  Object.assign(reason, { id: "award-reason", maxLength: 100, required: true, className: "wide" });
  reason.dataset.i18nPlaceholder = "grid-awards.reason_example";
  const go = el("button", undefined, "grab");
  show(go, "grid-awards.award_points");
  go.type = "submit";
  go.id = "award-go";
  const form = el("form");
  form.id = "award-form";
  form.append(field("grid-awards.to", who), field("grid-awards.points_1_1000", points), field("grid-awards.what_for", reason), go);
  const result = el("p", undefined, "result");
  result.id = "award-result";
  result.setAttribute("role", "status");
  const title = el("h2");
  show(title, "grid-awards.volunteer_points");
  box.append(title, form, result);
  applyI18n(box);
  // A request id per award, kept until it succeeds: a second tap after a lost answer awards once.
  let pending = null;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { resident_id: who.value, points: Number(points.value), reason: reason.value.trim() };
    const key = JSON.stringify(body);
    if (!pending || pending.key !== key) pending = { key, id: "aw" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8) };
    try {
      await api("POST", `/api/communities/${encodeURIComponent(me.community_id)}/points/awards`, { ...body, request_id: pending.id });
      const name = who.selectedOptions[0] ? who.selectedOptions[0].textContent : body.resident_id;
      result.textContent = t("grid-awards.awarded_name_n_points", { name, n: body.points });
      result.className = "result ok";
      pending = null;
      reason.value = "";
    } catch (e) {
      result.textContent = errorText(e);
      result.className = "result no";
    }
  };
  return who;
}

async function start() {
  if (!box || !me || !me.community_id) return;
  const who = build();
  box.hidden = false;
  try {
    const { residents } = await api("GET", `/api/communities/${encodeURIComponent(me.community_id)}/residents`);
    who.replaceChildren(...residents.map((r) => new Option([r.name, r.building, r.room].filter(Boolean).join(" "), r.id)));
  } catch (e) {
    $("award-result").textContent = errorText(e);
    $("award-result").className = "result no";
  }
}

start();
