// Words and numbers of demand crowdfunding that several pages show: the price tier that applies,
// progress toward a product's minimum, what the cutoff made of a wish line, its hold, notices.
// Everything is rendered from codes and parameters, in the page's language (Chinese first).
import { yuan } from "/static/common.js";
import { fmt, lang } from "/static/i18n.js";

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
  const lines = [fmt(["现价 {price}（大家已要 {wished}{unit}）", "Price now {price} ({wished} {unit} wished so far)"],
                     { price: perUnit(price, unit), wished, unit })];
  lines.push(missing > 0
    ? fmt(["还差 {n}{unit} 成团", "{n} {unit} more to make the group order"], { n: missing, unit })
    : fmt(["已成团", "Group order reached"]));
  const next = pr.next_tier === undefined ? nextTier(product, wished) : pr.next_tier;
  if (next) {
    lines.push(fmt(["再要 {n}{unit}，降到 {price}", "{n} {unit} more and it drops to {price}"],
                   { n: next.missing_qty ?? next.min_qty - wished, unit, price: perUnit(next.price_cents, unit) }));
  }
  return lines;
}

// What the cutoff made of a wish line, by the outcome's code, with its params (docs/api.md).
const OUTCOMES = {
  held: ["已为您预留 {held_qty}{unit}", "{held_qty} {unit} held for you"],
  partly_held: ["只预留到 {held_qty}{unit}（您要 {wished_qty}{unit}），供应商的货不够", "Only {held_qty} of your {wished_qty} {unit} held: the supplier ran short"],
  not_viable: ["没有成团：大家一共要了 {wished_qty}{unit}，至少要 {moq}{unit} 才能发货", "No group order: {wished_qty} {unit} wished in all, the supplier needs {moq} {unit}"],
  shortfall: ["供应商最多只能供 {capacity}{unit}，这次没有排上您", "The supplier can deliver only {capacity} {unit}; your wish missed out"],
  not_in_catalog: ["暂时没有这个商品，已记下您的需求", "Not in the catalog yet; your wish is noted"],
  supplier_short: ["供应商少发了货，预留从 {held_before}{unit} 减到 {held_qty}{unit}", "The supplier sent fewer: your hold went from {held_before} to {held_qty} {unit}"],
  pickup_ready: ["货到了：请到 {point} 取货，取货码 {code}，{expires} 前有效", "Your order has arrived: collect it at {point} with code {code} before {expires}."],
  remainder_filled: ["又为您补上 {added_qty}{unit}，一共预留 {held_qty}{unit}", "{added_qty} {unit} more came free for you: {held_qty} {unit} held in all"],
};

// What became of the hold since: the wish line's state follows it.
const HOLD_STATES = {
  held: ["待确认：请在直播间点“确认要”", "Not confirmed yet: tap “Keep it” in the live room"],
  reserved: ["待确认：请在直播间点“确认要”", "Not confirmed yet: tap “Keep it” in the live room"],
  confirmed: ["已确认，直播后到自提点取货", "Confirmed: pick it up after the live"],
  released: ["没有按时确认，预留已放回直播间", "Not confirmed in time: the hold went back to the live sale"],
  cancelled: ["已取消", "Cancelled"],
};

/** The outcome of a wish line in words: {code|status, params, held_qty}; `product` gives the unit. */
export function outcomeText(outcome, product, line) {
  const code = outcome.code || outcome.status;
  const params = { unit: product ? product.unit : "", held_qty: outcome.held_qty, wished_qty: line ? line.qty : "",
                   ...(outcome.params || {}) };
  const template = OUTCOMES[code];
  return template ? fmt(template, params) : fmt(["结果：{code}", "Outcome: {code}"], { code });
}

/** The hold's state in words (held/reserved, confirmed, released), or "" when there is no hold. */
export function holdStateText(state) {
  return HOLD_STATES[state] ? fmt(HOLD_STATES[state]) : "";
}

// Notices, by kind; the params come from the server (docs/api.md), the words from here.
const NOTICES = {
  wish_held: ["心愿成团了：{product} 已为您预留 {held_qty}{unit}，请在直播间确认", "Your wish made it: {held_qty} {unit} of {product} held for you. Confirm it in the live room."],
  wish_partly_held: ["{product} 只预留到 {held_qty}{unit}（您要 {wished_qty}{unit}），请在直播间确认", "Only {held_qty} of your {wished_qty} {unit} of {product} held. Confirm it in the live room."],
  wish_not_viable: ["很遗憾，{product} 没有成团：大家一共要了 {wished_qty}{unit}，至少要 {moq}{unit}", "Sorry, {product} made no group order: {wished_qty} {unit} wished in all, {moq} {unit} needed."],
  wish_shortfall: ["很遗憾，{product} 供应商最多只能供 {capacity}{unit}，这次没有排上您", "Sorry, the supplier of {product} can deliver only {capacity} {unit}; your wish missed out."],
  wish_not_in_catalog: ["您想要的“{product}”暂时没有，已记下需求", "“{product}” is not in the catalog yet; your wish is noted."],
  hold_release_soon: ["请尽快确认：{product} {qty}{unit} 的预留 {release} 放回直播间", "Please confirm: your hold of {qty} {unit} {product} goes back to the sale at {release}."],
  hold_released: ["{product} {qty}{unit} 没有按时确认，预留已放回直播间", "Your hold of {qty} {unit} {product} was not confirmed in time and went back to the sale."],
  supplier_short: ["供应商少发了货：{product} 的预留从 {held_before}{unit} 减到 {held_qty}{unit}", "The supplier sent fewer: your hold of {product} went from {held_before} to {held_qty} {unit}."],
  pickup_ready: ["货到了：请到 {point} 取货，取货码 {code}，{expires} 前有效", "Your order has arrived: collect it at {point} with code {code} before {expires}."],
  remainder_filled: ["又为您补上 {added_qty}{unit} {product}，一共 {held_qty}{unit}", "{added_qty} {unit} more {product} came free for you: {held_qty} {unit} in all."],
};

/** A notice in words: {kind, params}. */
export function noticeText(notice) {
  const template = NOTICES[notice.kind];
  const params = { ...(notice.params || {}) };
  if (params.release_at) params.release = shortTime(params.release_at);
  if (params.expires_at) params.expires = shortTime(params.expires_at);
  return template ? fmt(template, params) : fmt(["新消息：{kind}", "New notice: {kind}"], { kind: notice.kind });
}

/** "6月7日 18:30" or "7 Jun, 18:30" for a notice's time. */
export function shortTime(ms) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return lang() === "en" ? `${d.getDate()}/${d.getMonth() + 1} ${hm}` : `${d.getMonth() + 1}月${d.getDate()}日 ${hm}`;
}
