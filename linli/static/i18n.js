// Simplified Chinese first; English when the resident switches (kept in localStorage).
const EN = {
  "邻里直播间": "Neighbours Live", "大字": "Large text", "正在连接…": "Connecting…", "直播马上开始": "The live starts soon",
  "本场商品": "Items", "福袋": "Lucky bags", "我的订单": "My orders", "评论": "Comments", "说点什么": "Say something",
  "发送": "Send", "剩余": "Left", "立即抢购": "Grab now", "未开售": "Not on sale", "已抢光": "Sold out",
  "已达限购": "Limit reached", "库存不足": "Not enough left", "抢到了！": "Got it!", "正在抢…": "Grabbing…",
  "已连接": "Connected", "抢": "Grab", "在线": "Watching", "还剩": "Ends in", "秒": "s", "已下单": "Ordered",
  "已取消": "Cancelled", "确认要": "Keep it", "为您预留：": "Held for you: ", "（已确认）": "(confirmed)",
  "参与": "Enter", "发口令参与": "Enter with passphrase", "已参与": "Entered", "请输入口令": "Passphrase",
  "已参与福袋，等待开奖": "Entered, waiting for the draw", "恭喜您中了福袋！": "You won the lucky bag!",
  "直播已结束": "The live has ended", "网络断了，正在重连…": "Offline, reconnecting…", "已确认预留": "Hold kept",
  "中奖名单": "Winners", "中文": "中文", "EN": "EN",
};

export const lang = () => localStorage.getItem("linli-lang") || "zh";

export function t(text) {
  return lang() === "en" ? EN[text] ?? text : text;
}

export function applyI18n(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.dataset.zh ??= el.textContent;
    el.textContent = t(el.dataset.zh);
  }
}

export function languageToggle(button, onChange) {
  const label = () => { button.textContent = lang() === "en" ? "中文" : "EN"; };
  label();
  button.onclick = () => {
    localStorage.setItem("linli-lang", lang() === "en" ? "zh" : "en");
    label();
    applyI18n();
    onChange();
  };
}
