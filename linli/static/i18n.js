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
  "中奖名单": "Winners", "中文": "中文", "EN": "EN", "邻居": "Neighbour", "主播": "Host", "网格员": "Grid worker",
  "管理员": "Admin",
  // Notices and wish pages
  "消息": "Notices", "我的消息": "My notices", "去看看": "Open", "暂无消息": "No notices yet", "预留已放回直播间": "The hold went back to the sale",
  "下期团购心愿单": "Next group-buy wish list", "去填心愿": "Make a wish", "心愿单": "Wish list", "进入直播间": "Live room",
  "回首页": "Home", "我的心愿": "My wishes", "我想要": "I want", "商品": "Product", "想要什么（写下来）": "What would you like?",
  "数量": "Quantity", "自提点": "Pickup point", "加入心愿单": "Add to my wishes", "本期团购商品": "This week's products",
  "我要": "I want it", "（网格员代填）": " (entered by the grid worker)", "还没有心愿，在下面选商品加入": "No wishes yet: choose a product below",
  "这期没有心愿": "No wishes this time", "去直播间确认": "Confirm in the live room", "改数量": "Change", "新的数量": "New quantity",
  "已改好": "Changed", "不要了": "Remove", "已取消这条心愿": "Wish removed", "团购价：": "Group prices: ",
  "其他（写下想要的）": "Something else (write it)", "加载失败：": "Could not load: ", "已加入心愿单": "Added to your wishes",
  "已成团": "Group order reached",
  // Grid desk
  "网格员工作台": "Grid worker desk", "这期心愿单": "Wish window", "选择心愿单": "Choose the window", "我的居民": "My residents",
  "找居民（姓名、楼号房号、拼音首字母）": "Find a resident (name, building-room, pinyin initials)", "替她加入心愿": "Add this wish for her",
  "粘贴群接龙": "Paste a group-chat list", "把微信群里的接龙整段粘贴到这里": "Paste the whole 接龙 from the group chat here",
  "读取并导入": "Read and import", "现在没有在征集的心愿单": "No wish window is open now", "已截单，不能再填了": "Closed: no more wishes",
  "没有找到，换个写法试试": "Nobody found; try another spelling", "她还没有心愿": "No wishes yet", "已替她加入": "Added for her",
  "这一行没读懂": "This line could not be read", "数量要是整数": "the quantity must be a whole number",
  "目录里没有这个商品": "not in the catalog", "改好了，重新提交": "Fixed: submit again", "全部导入好了": "All imported",
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

/** A template in the page's language with {named} parameters: fmt(["还差 {n}{unit}", "{n} {unit} to go"], {n: 12, unit: "斤"}). */
export function fmt([zh, en], params = {}) {
  return (lang() === "en" && en ? en : zh).replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));
}

// Every problem code a page may meet, in plain words; the server's own message is English and for logs.
const ERRORS = {
  offline: ["网络不通，请稍后再试", "No connection. Please try again."],
  unauthorized: ["登录已失效，请回首页重新登录", "Please sign in again from the front page."],
  forbidden: ["您没有权限做这件事", "You are not allowed to do that."],
  bad_request: ["填写的内容不对，请检查一下", "Something in the form is not right. Please check it."],
  not_found: ["找不到了，可能已被删除", "Not found. It may have been removed."],
  conflict: ["已经有了，不用重复", "That exists already."],
  window_closed: ["心愿单已截单，不能再改了", "The wish window is closed."],
  window_exists: ["这场直播已经有心愿单了", "This live session has a wish window already."],
  cutoff_passed: ["截单时间已经过了，请选一个以后的时间", "The cutoff is in the past. Choose a later time."],
  bad_times: ["时间不对：要先截单，再开播，再释放预留", "The times must go: cutoff, then the live, then the hold release."],
  unknown_window: ["找不到这个心愿单", "No such wish window."],
  unknown_wish: ["找不到这条心愿，可能已取消", "No such wish. It may have been withdrawn."],
  unknown_product: ["没有这个商品", "No such product."],
  product_not_offered: ["这个商品本社区现在不卖了", "This product is not offered in this community now."],
  unknown_pickup_point: ["没有这个自提点", "No such pickup point."],
  unknown_resident: ["没有这位居民，请先登记", "No such resident. Register them first."],
  not_a_resident: ["您还没有登记为本社区居民，请联系网格员", "You are not registered as a resident yet. Ask your grid worker."],
  unknown_session: ["找不到这场直播", "No such live session."],
  unknown_community: ["找不到这个社区", "No such community."],
  unknown_order: ["找不到这张订单", "No such order."],
  wrong_state: ["现在不能这样做", "That cannot be done now."],
  rate_limited: ["点得太快了，请稍等一下", "Too fast. Please wait a moment."],
  unavailable: ["系统忙，请稍后再试", "Busy. Please try again shortly."],
  internal: ["出错了，请稍后再试", "Something went wrong. Please try again."],
  released: ["太晚了：预留已释放，请在直播间抢购", "Too late: the hold went back to the live sale."],
  not_a_hold: ["这不是预留的订单", "That order is not a hold."],
};

/** A failed call (an ApiError or an error frame) in the page's language, from its code. */
export function errorText(e) {
  const known = ERRORS[e && e.code];
  return known ? fmt(known) : fmt(["没有成功，请稍后再试（{code}）", "That did not work ({code})."], { code: (e && e.code) || "?" });
}
