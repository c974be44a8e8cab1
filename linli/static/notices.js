// The resident's inbox on her pages: a button with the number of unread notices, and a list that
// opens by itself when something new came while she was away. What she has seen is marked read.
import { api, el } from "/static/common.js";
import { t } from "/static/i18n.js";
import { noticeText, shortTime } from "/static/wishing.js";

const SEEN_AFTER_MS = 1500;  // open long enough to be read, not just flashed past

/**
 * Wire the inbox: `button` toggles `panel` (a section with a <ul>), the badge counts unread notices.
 * Returns {add(notice), render(), reload()}: the live room adds notices that arrive on its socket.
 */
export function noticesInbox(button, panel) {
  const list = panel.querySelector("ul");
  const state = { notices: [], open: false };

  const unread = () => state.notices.filter((n) => !n.read_at);
  function render() {
    const n = unread().length;
    button.textContent = n ? t("notices.notices_n", { n }) : t("common.notices");
    button.classList.toggle("has-new", n > 0);
    button.setAttribute("aria-expanded", String(state.open));
    panel.hidden = !state.open;
    list.replaceChildren(...(state.notices.length ? state.notices.map((notice) => {
      const li = el("li", undefined, notice.read_at ? "notice" : "notice new");
      li.dataset.kind = notice.kind;
      li.append(el("span", shortTime(notice.created_at), "when"), el("span", noticeText(notice), "what"));
      if (notice.link) {
        const a = el("a", t("notices.open"));
        a.href = notice.link;
        li.append(a);
      }
      return li;
    }) : [el("li", t("notices.no_notices_yet"), "notice")]));
  }

  async function markSeen() {
    const ids = unread().map((n) => n.id);
    if (!ids.length || !state.open) return;
    await api("POST", "/api/notices/read", { ids }).catch(() => {});
    const now = Date.now();
    for (const n of state.notices) if (ids.includes(n.id)) n.read_at = n.read_at || now;
    // Still highlighted as new while the list stays open: read, but not forgotten mid-glance.
    button.textContent = t("common.notices");
    button.classList.remove("has-new");
  }

  function open(on) {
    state.open = on;
    render();
    if (on) setTimeout(markSeen, SEEN_AFTER_MS);
  }

  async function reload() {
    try {
      const data = await api("GET", "/api/notices");
      state.notices = data.notices || [];
    } catch { state.notices = []; }  // no inbox (e.g. a host's token): the button just shows none
    if (unread().length) open(true); else render();
  }

  function add(notice) {
    if (state.notices.some((n) => n.id === notice.id)) return;
    state.notices.unshift({ ...notice, read_at: null });
    open(true);
  }

  button.onclick = () => open(!state.open);
  return { add, render, reload };
}
