// A resident's record of what others did with her orders and points (谁替我办过事): a grid worker
// who grabbed for her in the live room, a volunteer award, a pickup point changed for her. The
// server records each once; this page says each in plain words, newest first.
import { $, api, el, largeTextToggle, yuan } from "/static/common.js";
import { dateText, lang, languageToggle, show, showError, t } from "/static/i18n.js";

const ROLE = { grid: "activity.role.grid", host: "activity.role.host", admin: "activity.role.admin",
               operator: "activity.role.operator", pickup: "activity.role.pickup" };
const WORDS = {
  title: "activity.words.title", logTitle: "activity.words.logTitle",
  why: "activity.words.why",
  home: "common.home", big: "common.big_text", none: "activity.words.none",
  loaded: "activity.words.loaded",
};
let entries = [];

/** Who did it, as she would say it: 网格员 刘姐, or the role alone when no name is on record. */
const actor = (e) => [t(ROLE[e.actor_role] || e.actor_role), e.actor_name].filter(Boolean).join(" ");

/** What was done, in plain words. */
function what(e) {
  const d = e.detail || {};
  switch (e.action) {
    case "proxy_grab":
      return t("activity.who_ordered_qty_unit",
                 { who: actor(e), item: d.title || d.item_id, qty: d.qty, unit: d.unit || "", price: yuan((d.price_cents || 0) * (d.qty || 1)) });
    case "points_awarded":
      return t("activity.who_gave_you_n", { who: actor(e), n: d.points, why: d.reason || "" });
    case "pickup_point_changed":
      return t("activity.who_changed_your_pickup", { who: actor(e) });
    case "chain_wish":
      return t("activity.who_added_a_wish",
                 { who: actor(e), line: d.line || "" });
    case "chain_edit":
      return t("activity.who_changed_your_wish",
                 { who: actor(e), line: d.line || "" });
    default:
      return t("activity.who_acted_for_you", { who: actor(e), what: e.action });
  }
}

function when(at) {
  const d = new Date(at);
  if (lang() === "en") return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return `${dateText(d, { month: "long", day: "numeric" })} ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function render() {
  for (const [id, key] of [["title", "title"], ["log-title", "logTitle"], ["why", "why"], ["home", "home"], ["big-text", "big"]]) {
    $(id).textContent = t(WORDS[key]);
  }
  document.title = t(WORDS.title);
  $("log").replaceChildren(...(entries.length ? entries.map((e) => {
    const li = el("li");
    li.dataset.entry = e.id;
    li.dataset.action = e.action;
    li.append(el("span", what(e), "what"), el("span", when(e.at), "when"));
    return li;
  }) : [el("li", t(WORDS.none))]));
}

largeTextToggle($("big-text"));
languageToggle($("lang"), render);
(async () => {
  try {
    entries = (await api("GET", "/api/me/audit")).entries;
    render();
    show($("status"), WORDS.loaded);
  } catch (e) { showError($("status"), e); }
})();
