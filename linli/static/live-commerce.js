// The live room's selling aids: the scheduled flashes ("next up" and the big pre-launch countdown),
// the purchase ticker (王*香 等 12 人刚刚下单) and the answers to comments that grab (红薯+2).
// live.js hands every event to onEvent; this module draws into the boxes it adds under the video.
import { el, localTime, yuan } from "/static/common.js";
import { lang, t } from "/static/i18n.js";

const PRELAUNCH_MS = 5 * 60 * 1000;  // the big countdown shows in the last 5 minutes, as on the big platforms
const TICKER_MS = 6000;  // how long one ticker line stays

// What a comment that could not be read as a grab is told, by code, in plain words.
const UNCLEAR = {
  ambiguous_item: "live-commerce.unclear.ambiguous_item",
  no_pinned_item: "live-commerce.unclear.no_pinned_item",
  unknown_item: "live-commerce.unclear.unknown_item",
  over_limit: "live-commerce.unclear.over_limit",
  wrong_unit: "live-commerce.unclear.wrong_unit",
  not_whole: "live-commerce.unclear.not_whole",
};

/** The selling aids of one room: ``items()`` gives the room's items (id -> item), ``say(text, ok)`` the result line. */
export function liveCommerce({ items, say }) {
  const plans = new Map();
  const box = el("section", "", "card prelaunch");
  box.id = "prelaunch"; box.hidden = true; box.setAttribute("aria-live", "polite");
  const big = el("p", "", "countdown-big"); big.id = "prelaunch-big";
  const queue = el("ul", "", "items"); queue.id = "flash-queue";
  box.append(big, queue);
  const ticker = el("p", "", "ticker"); ticker.id = "ticker"; ticker.hidden = true; ticker.setAttribute("role", "status");
  const stage = document.getElementById("stage");
  stage.after(ticker, box);
  let tickerUntil = 0;
  const input = document.getElementById("comment-text");
  if (input) input.placeholder = t("live-commerce.write_1_to_grab");

  const title = (id) => items().get(id)?.title || id;

  function render() {
    const now = Date.now();
    const waiting = [...plans.values()].filter((p) => p.starts_at > now - 2000).sort((a, b) => a.starts_at - b.starts_at);
    box.hidden = waiting.length === 0;
    const next = waiting[0];
    if (next && next.starts_at - now <= PRELAUNCH_MS) {
      const secs = Math.max(0, Math.ceil((next.starts_at - now) / 1000));
      big.textContent = t("live-commerce.title_flash_sale_starts",
                            { title: title(next.item_id), clock: `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}` });
      big.hidden = false;
    } else big.hidden = true;
    queue.replaceChildren(...waiting.map((p) => {
      const item = items().get(p.item_id);
      const price = p.price_cents ?? item?.price_cents;
      return el("li", t("live-commerce.when_flash_title_price",
                          { when: localTime(p.starts_at, lang()), title: title(p.item_id),
                            price: price == null ? "" : yuan(price) + (item ? "/" + item.unit : "") }));
    }));
  }

  function showBuyers(e) {
    const first = e.names && e.names[0];
    ticker.textContent = first
      ? (e.count > 1 ? t("live-commerce.name_and_more_more", { name: first, n: e.count, more: e.count - 1 })
                     : t("live-commerce.name_just_ordered", { name: first }))
      : t("live-commerce.n_neighbours_just_ordered", { n: e.count });
    ticker.hidden = false;
    tickerUntil = Date.now() + TICKER_MS;
  }

  function unclear(e) {
    const item = items().get((e.item_ids || [])[0]);
    const template = UNCLEAR[e.code] || e.message;
    say(t(template, { n: (e.item_ids || ["i1"])[0].slice(1), title: item?.title || "", limit: item?.per_user_limit || "",
                        unit: item?.unit || "" }), false);
  }

  setInterval(() => {
    if (!box.hidden) render();
    if (!ticker.hidden && Date.now() > tickerUntil) ticker.hidden = true;
  }, 1000);

  return {
    onEvent(e) {
      switch (e.type) {
        case "snapshot":
          plans.clear();
          if (e.status !== "ended") for (const p of e.flash_plans || []) plans.set(p.id, p);
          render(); break;
        case "session_ended": plans.clear(); render(); break;  // its waiting flashes will not start
        case "flash_scheduled": plans.set(e.plan.id, e.plan); render(); break;
        case "flash_plan_cancelled": plans.delete(e.plan_id); render(); break;
        case "flash_started": if (e.plan_id) { plans.delete(e.plan_id); render(); } break;
        case "buyers": showBuyers(e); break;
        case "grab_unclear": unclear(e); break;
      }
    },
    render,
  };
}
