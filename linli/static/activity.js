// A resident's record of what others did with her orders and points (谁替我办过事): a grid worker
// who grabbed for her in the live room, a volunteer award, a pickup point changed for her. The
// server records each once; this page says each in plain words, newest first.
import { $, api, el, largeTextToggle, yuan } from "/static/common.js";
import { errorText, fmt, lang, languageToggle } from "/static/i18n.js";

const ROLE = { grid: ["网格员", "Grid worker"], host: ["主播", "Host"], admin: ["社区管理员", "Community office"],
               operator: ["平台客服", "Platform staff"], pickup: ["自提点店员", "Pickup staff"] };
const WORDS = {
  title: ["谁替我办过事", "Who acted for me"], logTitle: ["别人替您做过的事", "What others did for you"],
  why: ["网格员替您下单、社区给您加积分、改了您的取货点，都会记在这里，只有您自己看得到。",
        "Orders placed for you, points given to you and pickup points changed for you are listed here; only you see this."],
  home: ["回首页", "Home"], big: ["大字", "Large text"], none: ["还没有人替您办过事", "Nobody has acted for you yet"],
  loaded: ["已是最新", "Up to date"],
};
let entries = [];

/** Who did it, as she would say it: 网格员 刘姐, or the role alone when no name is on record. */
const actor = (e) => [fmt(ROLE[e.actor_role] || [e.actor_role, e.actor_role]), e.actor_name].filter(Boolean).join(" ");

/** What was done, in plain words. */
function what(e) {
  const d = e.detail || {};
  switch (e.action) {
    case "proxy_grab":
      return fmt(["{who} 替您抢了 {item} {qty}{unit}（{price}）", "{who} ordered {qty}{unit} of {item} for you ({price})"],
                 { who: actor(e), item: d.title || d.item_id, qty: d.qty, unit: d.unit || "", price: yuan((d.price_cents || 0) * (d.qty || 1)) });
    case "points_awarded":
      return fmt(["{who} 给您加了 {n} 积分：{why}", "{who} gave you {n} points: {why}"], { who: actor(e), n: d.points, why: d.reason || "" });
    case "pickup_point_changed":
      return fmt(["{who} 替您改了取货点", "{who} changed your pickup point"], { who: actor(e) });
    case "chain_wish":
      return fmt(["{who} 按群接龙替您加了心愿：“{line}”", "{who} added a wish for you from the group chain: “{line}”"],
                 { who: actor(e), line: d.line || "" });
    case "chain_edit":
      return fmt(["{who} 按群接龙改了您的心愿：“{line}”", "{who} changed your wish from the group chain: “{line}”"],
                 { who: actor(e), line: d.line || "" });
    default:
      return fmt(["{who} 替您办了一件事（{what}）", "{who} acted for you ({what})"], { who: actor(e), what: e.action });
  }
}

function when(at) {
  const d = new Date(at);
  if (lang() === "en") return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return `${d.getMonth() + 1}月${d.getDate()}日 ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function render() {
  for (const [id, key] of [["title", "title"], ["log-title", "logTitle"], ["why", "why"], ["home", "home"], ["big-text", "big"]]) {
    $(id).textContent = fmt(WORDS[key]);
  }
  document.title = fmt(WORDS.title);
  $("log").replaceChildren(...(entries.length ? entries.map((e) => {
    const li = el("li");
    li.dataset.entry = e.id;
    li.dataset.action = e.action;
    li.append(el("span", what(e), "what"), el("span", when(e.at), "when"));
    return li;
  }) : [el("li", fmt(WORDS.none))]));
}

largeTextToggle($("big-text"));
languageToggle($("lang"), render);
(async () => {
  try {
    entries = (await api("GET", "/api/me/audit")).entries;
    render();
    $("status").textContent = fmt(WORDS.loaded);
  } catch (e) { $("status").textContent = errorText(e); }
})();
