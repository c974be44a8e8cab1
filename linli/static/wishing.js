// Words and numbers of demand crowdfunding that several pages show: the price tier that applies,
// progress toward a product's minimum, what the cutoff made of a wish line, its hold, notices.
// Everything is rendered from codes and parameters, in the page's language (Chinese first).
import { yuan } from "/static/common.js";
import { dateText, lang, t } from "/static/i18n.js";

/** The tier that applies to `qty` units: the highest min_qty not above it. */
export function tierFor(product, qty) {
  const tiers = [...product.tiers].sort((a, b) => a.min_qty - b.min_qty);
  return tiers.filter((t) => t.min_qty <= qty).pop() || tiers[0];
}

/** The next cheaper tier above `qty`, or null. */
export function nextTier(product, qty) {
  return [...product.tiers].sort((a, b) => a.min_qty - b.min_qty).find((t) => t.min_qty > qty) || null;
}

/** "¥3.50/斤" */
export const perUnit = (cents, unit) => `${yuan(cents)}/${unit}`;

/**
 * What a product's progress says: the price now, how much is missing to its minimum ("还差 12斤 成团"),
 * and the next cheaper tier. `pr` is {qty, missing_to_moq, price_cents, next_tier} as the window reports it.
 */
export function progressLines(product, pr) {
  const unit = product.unit;
  const wished = pr.qty ?? 0;
  const price = pr.price_cents ?? tierFor(product, wished).price_cents;
  const missing = pr.missing_to_moq ?? Math.max(0, product.moq - wished);
  const lines = [t("wishing.price_now_price_wished",
                     { price: perUnit(price, unit), wished, unit })];
  lines.push(missing > 0
    ? t("wishing.n_unit_more_to", { n: missing, unit })
    : t("common.group_order_reached"));
  const next = pr.next_tier === undefined ? nextTier(product, wished) : pr.next_tier;
  if (next) {
    lines.push(t("wishing.n_unit_more_and",
                   { n: next.missing_qty ?? next.min_qty - wished, unit, price: perUnit(next.price_cents, unit) }));
  }
  return lines;
}

// What the cutoff made of a wish line, by the outcome's code, with its params (docs/api.md).
const OUTCOMES = {
  held: "wishing.outcomes.held",
  partly_held: "wishing.outcomes.partly_held",
  not_viable: "wishing.outcomes.not_viable",
  shortfall: "wishing.outcomes.shortfall",
  not_in_catalog: "wishing.outcomes.not_in_catalog",
  supplier_short: "wishing.outcomes.supplier_short",
  pickup_ready: "wishing.outcomes.pickup_ready",
  remainder_filled: "wishing.outcomes.remainder_filled",
};

// What became of the hold since: the wish line's state follows it.
const HOLD_STATES = {
  held: "wishing.hold_states.held",
  reserved: "wishing.hold_states.held",
  confirmed: "wishing.hold_states.confirmed",
  released: "wishing.hold_states.released",
  cancelled: "common.cancelled",
};

/** The outcome of a wish line in words: {code|status, params, held_qty}; `product` gives the unit. */
export function outcomeText(outcome, product, line) {
  const code = outcome.code || outcome.status;
  const params = { unit: product ? product.unit : "", held_qty: outcome.held_qty, wished_qty: line ? line.qty : "",
                   ...(outcome.params || {}) };
  const template = OUTCOMES[code];
  return template ? t(template, params) : t("wishing.outcome_code", { code });
}

/** The hold's state in words (held/reserved, confirmed, released), or "" when there is no hold. */
export function holdStateText(state) {
  return HOLD_STATES[state] ? t(HOLD_STATES[state]) : "";
}

// Notices, by kind; the params come from the server (docs/api.md), the words from here.
const NOTICES = {
  wish_held: "wishing.notices.wish_held",
  wish_partly_held: "wishing.notices.wish_partly_held",
  wish_not_viable: "wishing.notices.wish_not_viable",
  wish_shortfall: "wishing.notices.wish_shortfall",
  wish_not_in_catalog: "wishing.notices.wish_not_in_catalog",
  hold_release_soon: "wishing.notices.hold_release_soon",
  hold_released: "wishing.notices.hold_released",
  supplier_short: "wishing.notices.supplier_short",
  pickup_ready: "wishing.outcomes.pickup_ready",
  remainder_filled: "wishing.notices.remainder_filled",
};

/** A notice in words: {kind, params}. */
export function noticeText(notice) {
  const template = NOTICES[notice.kind];
  const params = { ...(notice.params || {}) };
  if (params.release_at) params.release = shortTime(params.release_at);
  if (params.expires_at) params.expires = shortTime(params.expires_at);
  return template ? t(template, params) : t("wishing.new_notice_kind", { kind: notice.kind });
}

/** "6月7日 18:30" or "7 Jun, 18:30" for a notice's time. */
export function shortTime(ms) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return lang() === "en" ? `${d.getDate()}/${d.getMonth() + 1} ${hm}` : `${dateText(d, { month: "long", day: "numeric" })} ${hm}`;
}
