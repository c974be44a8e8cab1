// The grid desk's "奖励志愿积分": a grid worker awards points to a resident of her grid who helped
// (sorting deliveries, visiting a neighbour). Built into the desk's #awards section; the server
// keeps each award once per request id and tells the resident in her record of who did what.
import { $, api, el, whoAmI } from "/static/common.js";
import { errorText, fmt } from "/static/i18n.js";

const box = $("awards");
const me = whoAmI();

function field(label, input) {
  const p = el("p");
  const l = el("label", label);
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
  Object.assign(reason, { id: "award-reason", maxLength: 100, required: true, placeholder: "帮忙分拣快递", className: "wide" });
  const go = el("button", fmt(["奖励积分", "Award points"]), "grab");
  go.type = "submit";
  go.id = "award-go";
  const form = el("form");
  form.id = "award-form";
  form.append(field(fmt(["奖励给", "To"]), who), field(fmt(["积分（1-1000）", "Points (1-1000)"]), points),
              field(fmt(["做了什么", "What for"]), reason), go);
  const result = el("p", undefined, "result");
  result.id = "award-result";
  result.setAttribute("role", "status");
  box.append(el("h2", fmt(["奖励志愿积分", "Volunteer points"])), form, result);
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
      result.textContent = fmt(["已奖励 {name} {n} 积分", "Awarded {name} {n} points"], { name, n: body.points });
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
