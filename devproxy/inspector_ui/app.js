"use strict";
// devproxy inspector: a live list of requests and one request in detail.
// Data: the JSON API under ./api/ and the live feed ./api/live (a WebSocket). No build step.

// order: ids newest first; history: how many devproxy keeps (older rows leave the list);
// focus: the row the keyboard was last on, the list's one tab stop while it is shown.
// What the detail's buttons say for a moment, by request, so that an open stream's
// detail, made afresh every second, still says it: passing, a copy button's "Copied ✓"
// ({request, id, text}); replaying, the request whose replay is awaited; replayFailed,
// why it was not ({request, text}).
// els: each row's <tr>, made once and kept while the row is (filled afresh when it
// changes); changed: the ids whose row changed since the list was last drawn.
// What holds the list still (drawList): hover, the pointer on it; pressed, a press that
// began on it; paused, the Pause button. release: the next draw shows all, held or not.
const state = {
  rows: new Map(), order: [], selected: null, focus: null, fresh: new Set(), history: 500,
  passing: null, replaying: null, replayFailed: null,
  els: new Map(), changed: new Set(), methodsStale: true,
  hover: false, pressed: false, paused: false, release: false,
};
const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const ms = (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(1) : Math.round(v));
const size = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB`
  : `${(n / 1048576).toFixed(1)} MiB`);
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });

// -- list -------------------------------------------------------------------------------

// A target as a person reads it: escapes of text outside ASCII shown as the text
// (/api/caf%C3%A9 as /api/café). Escapes of ASCII stay as sent: /api/%2e%2e/x,
// /a%5Cb and 100%25 are other requests than /api/../x, /a\b and 100%, and devproxy
// treats them so. So do escapes that are not UTF-8, and characters that would pass for
// others or for nothing: invisible and bidi ones, spaces, slash and dot lookalikes,
// combining marks, compatibility forms. (Letters of other scripts are shown: they are
// real paths' text, whatever they look like.)
const UTF8_ESCAPES = /%[C-Dc-d][0-9A-Fa-f]%[89ABab][0-9A-Fa-f]|%[Ee][0-9A-Fa-f](?:%[89ABab][0-9A-Fa-f]){2}|%[Ff][0-7](?:%[89ABab][0-9A-Fa-f]){3}/g;
const KEPT_ESCAPED = /[\p{C}\p{Z}\p{Default_Ignorable_Code_Point}\u2024\u2044\u2215\u29f8\ufe52\uff0e\uff0f]/u;

function readable(target) {
  return target.replace(UTF8_ESCAPES, (bytes) => {
    try {
      const char = decodeURIComponent(bytes);
      // Nor a combining mark (e + U+0301 would pass for é) or a character with another
      // usual form (the Kelvin sign for K, fullwidth letters).
      return KEPT_ESCAPED.test(char) || /\p{M}/u.test(char) || char.normalize("NFKC") !== char
        ? bytes : char;
    } catch {
      return bytes;  // an overlong form or a surrogate: not UTF-8
    }
  });
}

// The filters as set now: read once for a whole list, not once a row.
function filters() {
  return {
    text: $("#filter-text").value.trim().toLowerCase(), method: $("#filter-method").value,
    status: $("#filter-status").value, route: $("#filter-route").value,
  };
}

// The route filter's choice for requests no route matched (shown "–"): not a path, as
// every route's is.
const NO_ROUTE = "-";

// What "error" finds: what went wrong, wherever. A status of 500 or more (a backend's,
// or devproxy's 502 and 504), devproxy's own refusals and its 404 for a path no route
// matches, a response the browser blocked (CORS), and a request that ended badly (a
// body broken off, the browser gone). A backend's 4xx is an answer, not an error: the
// 4xx status filter finds those.
const isError = (row) => row.cors_blocked || Boolean(row.error) || row.status >= 500
  || (row.status >= 400 && (!row.route || row.declined));

// What the text filter searches in a row: made once for each version of a row.
const hays = new WeakMap();
function hay(row) {
  let text = hays.get(row);
  if (text === undefined) {
    // What devproxy said of a request is searched too ("redirect", "431", "subprotocol"),
    // "error" finds what isError says, and a badge's text its rows ("cors blocked").
    const cors = row.cross_origin && row.kind !== "websocket"
      ? (row.cors_if_credentials ? " cors blocked with credentials"
        : row.cors_blocked ? " cors blocked" : " cors") : "";
    text = (`${row.method} ${row.target} ${readable(row.target)} ${row.upstream_url} `
      + `${row.status} ${row.kind}${cors}` + (isError(row) ? " error" : "")
      + (row.replay_of !== null ? " replay" : "")
      + (row.error ? ` ${row.error}` : "")).toLowerCase();
    hays.set(row, text);
  }
  return text;
}

function matches(row, { text, method, status, route }) {
  if (method && row.method !== method) return false;
  if (route && row.route !== (route === NO_ROUTE ? "" : route)) return false;
  if (status !== "" && String(Math.floor(row.status / 100)) !== status) return false;
  // Ended without an answer: not pending.
  if (status === "0" && (row.error || row.duration_ms !== null)) return false;
  return !text || hay(row).includes(text);
}

// The list is one tab stop, not one per row (500 Tabs to reach the detail): the row
// the keyboard was last on, else the one open, else the first (a roving tabindex).
// The arrow keys, Home and End move between rows; Enter or Space opens one.
const MOVES = {
  ArrowDown: (tr) => tr.nextElementSibling, ArrowUp: (tr) => tr.previousElementSibling,
  Home: (tr) => tr.parentElement.firstElementChild, End: (tr) => tr.parentElement.lastElementChild,
};

function takeTabStop(tr) {
  state.focus = Number(tr.dataset.id);
  if (tr.tabIndex === 0) return;
  tr.parentElement.querySelector('tr[tabindex="0"]')?.setAttribute("tabindex", "-1");
  tr.tabIndex = 0;
}

function focusRow(tr) {
  tr.focus({ preventScroll: true });  // its focus handler takes the tab stop
  tr.scrollIntoView({ block: "nearest" });
  // Not left under the column headings, which stick to the top.
  const covered = $("#list thead").getBoundingClientRect().bottom - tr.getBoundingClientRect().top;
  if (covered > 0) $(".table-wrap").scrollTop -= covered;
}

// A row's <tr>, once: its cells are filled by fillRow, again each time the row changes.
function rowElement(id) {
  return el("tr", {
    "data-id": id, tabindex: "-1",
    onclick: () => select(id),
    onfocus: (event) => takeTabStop(event.currentTarget),
    onkeydown: (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(id); }
      const move = MOVES[event.key];
      if (move && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();  // the rows move, not the page
        const to = move(event.currentTarget);
        if (to) focusRow(to);
      }
    },
    // Flashed once, when it came: not again each time it is shown by a filter.
    onanimationend: (event) => event.currentTarget.classList.remove("fresh"),
  });
}

// How wide a path is drawn in the list's monospace font, in ch: East Asian wide
// characters and emoji take two. Counted to a length no column reaches, as a URL may be
// 70 KB. The path's room is decided by it (style.css), not by its text: text as wide as
// its content would keep the list from ever cutting it short.
const WIDE = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u;
function widthInCh(text) {
  let n = 0;
  for (const char of text) {
    n += WIDE.test(char) ? 2 : 1;
    if (n >= 1000) break;
  }
  return n;
}

// The room a row's badges take beside its path, for the path's cell to keep it
// (style.css): each in the list's monospace font at 10 px of its 13, with its padding
// and the gap before it (14 px), and 2 px to spare for rounding.
function badgesWidth(badges) {
  if (!badges.length) return "0px";
  const chars = badges.reduce((n, badge) => n + badge.textContent.length, 0);
  return `calc(${chars}ch * 10 / 13 + ${badges.length * 16}px)`;
}

function fillRow(tr, row) {
  const shown = readable(row.target);
  const cls = Math.floor(row.status / 100);
  const badges = [];
  if (row.kind !== "http") badges.push(el("span", { class: `badge ${row.kind}` }, row.kind));
  if (row.replay_of !== null) {
    badges.push(el("span", { class: "badge replay", title: `Replay of #${row.replay_of}` }, "replay"));
  }
  if (row.cross_origin && row.kind !== "websocket") {  // no CORS for WebSockets
    // Beside "preflight", "blocked" says it: a short path beside both read "/co…".
    // No cookie went, but the answer grants credentials, with "*": what the page asked
    // for decides, and the answer suggests credentials (the README's rule for preflights).
    badges.push(row.cors_if_credentials
      ? el("span", { class: "badge cors blocked", title: "Blocked if the page sent it with "
        + "credentials (fetch's credentials: 'include'), as its answer's "
        + "Access-Control-Allow-Credentials: true suggests" }, "blocked with credentials")
      : row.cors_blocked
        ? el("span", { class: "badge cors blocked", title: "The browser kept this response from the page" },
          row.kind === "preflight" ? "blocked" : "CORS blocked")
        : el("span", { class: "badge cors" }, "CORS"));
  }
  tr.replaceChildren(
    el("td", {}, clock(row.started)),
    el("td", {}, row.method),
    // The badges go below a path they would cut short; a long one is cut short all the
    // same, a badge never is, and the first dozen characters stay (style.css).
    el("td", { class: "path", title: row.target },
      el("div", { style: `--head: ${Math.min([...shown].length, 12)}; --len: ${widthInCh(shown)};`
        + ` --badges: ${badgesWidth(badges)}` },
        el("span", { class: "target" }, shown),
        badges.length ? el("span", { class: "badges" }, badges) : null)),
    el("td", { title: row.upstream_url }, row.route || "–"),
    // Where it went: a column of its own where the window has room, else the route's
    // tooltip.
    el("td", { class: "upstream", title: row.upstream_url },
      el("div", {}, readable(row.upstream_url) || "–")),
    // A response the browser blocked never reached the page: not a green success.
    row.cors_blocked
      ? el("td", {
        class: "status blocked",
        title: `${row.status}, blocked by CORS${row.cors_if_credentials ? " if sent with credentials" : ""}`,
      }, `${row.status} ✕`)
      // A status, then an end that was not one (a body broken off, the browser gone).
      : row.status && row.error
        ? el("td", { class: "status blocked", title: row.error }, `${row.status} ✕`)
        // No status: still waiting, or it ended with none (an event stream the page
        // closed before its head came).
        : el("td", { class: `status s${cls}` },
          row.status || (row.error ? "error" : row.duration_ms !== null ? "closed" : "…")),
    el("td", { class: "num" }, `${ms(row.connect_ms)} / ${ms(row.ttfb_ms)} / ${ms(row.duration_ms)} ms`),
    el("td", { class: "num" }, `${size(row.bytes_in)} / ${size(row.bytes_out)}`));
}

// Drawn at most once a frame, and only what changed: remaking all 500 rows for each
// event kept the main thread busy at 70 requests/s, with frames of 200 ms. What devproxy
// sends (soon false) is drawn at most every LIST_EVERY ms: each draw moves every row
// down, and so repaints the list. What the user does is drawn on the next frame.
const LIST_EVERY = 100;
let frame = null, timer = null, drawn = 0;
function renderList(soon = true) {
  if (frame !== null) return;  // a draw is coming on the next frame
  const wait = soon ? 0 : drawn + LIST_EVERY - performance.now();
  if (wait > 0) {
    timer ??= setTimeout(() => { timer = null; renderList(); }, wait);
    return;
  }
  clearTimeout(timer);
  timer = null;
  frame = requestAnimationFrame(() => {
    frame = null;
    drawn = performance.now();
    drawList();
  });
}

// A new row flashes to catch the eye while rows come one by one, not when more than
// two come in a second: rows flashing all over say nothing, and while any flash lasts
// the list is repainted every frame (a sixth of the main thread, measured).
const arrived = [];  // when each new row of the last second was drawn
function mayFlash() {
  const now = performance.now();
  arrived.push(now);
  while (arrived[0] < now - 1000) arrived.shift();
  return arrived.length <= 2;
}

// Shown whole on the next frame, held or not: what the user asks for (a filter, the bar)
// is not kept waiting as traffic is.
function showAll() {
  state.release = true;
  holdSplit();
  renderList();
}

// While a filter is on, the list keeps at least the width it had before: sized by its
// rows, it moved the split with the detail by 77 px as a filter took wider rows away.
// Read before the filtered list is drawn (showAll); let go with the last filter, or when
// the window is resized (resize), where the width held is no longer the list's own.
function holdSplit() {
  const table = $("#list");
  const { text, method, status, route } = filters();
  if (!(text || method || status || route)) table.style.minWidth = "";
  else if (!table.style.minWidth) table.style.minWidth = `${table.getBoundingClientRect().width}px`;
}

// Held, the rows shown stay in their places, updated in place: a row put on top moved
// the list between a press and its release, and the click landed on <tbody> or on
// another row (6 clicks of 8 at 20 requests/s). New rows, and rows traffic would take
// away (one that ends, under the "pending" filter), wait until the pointer leaves, the
// bar is used or Pause let go. An empty list has nothing to move: the first rows come.
// A row with the keyboard focus does not hold it: the focus stays on its element
// wherever it moves, so Enter opens that row, and the list stays live while the detail
// it opened is read.
function held(body) {
  if (state.release) return false;
  return state.paused || ((state.hover || state.pressed) && body.childElementCount > 0);
}

function drawList() {
  const body = $("#list tbody");
  const now = filters();
  const matching = state.order.filter((id) => matches(state.rows.get(id), now));
  let shown = matching, waiting = 0;
  if (held(body)) {
    const stay = new Set([...body.children].map((tr) => Number(tr.dataset.id))
      .filter((id) => state.els.get(id)?.parentElement === body));  // not a forgotten row
    // The request open comes too: opened from elsewhere (a replay's), it was asked for.
    if (matching.includes(state.selected)) stay.add(state.selected);
    waiting = matching.filter((id) => !stay.has(id)).length;
    shown = state.order.filter((id) => stay.has(id));
  }
  state.release = false;
  const wanted = new Set(shown);
  // A row the keyboard is on stays the same element, so keeps the focus, unless the
  // list came afresh (a reset): then its new element takes it.
  const focused = body.contains(document.activeElement)
    ? Number(document.activeElement.closest("tr")?.dataset.id) : undefined;
  for (const id of state.changed) {
    const row = state.rows.get(id);
    const tr = state.els.get(id);
    if (row && tr) fillRow(tr, row);
  }
  state.changed.clear();
  // Out: rows no filter lets through, or no longer kept. The rest keep their order
  // (newest first, ever), so what is left is to put each new row in its place.
  for (const tr of [...body.children]) {
    const id = Number(tr.dataset.id);
    if (!wanted.has(id) || state.els.get(id) !== tr) {
      tr.remove();
      tr.tabIndex = -1;  // shown again later, it is made the tab stop or open again below
      tr.classList.remove("selected");
    }
  }
  let at = body.firstElementChild;
  for (const id of shown) {
    let tr = state.els.get(id);
    if (!tr) {
      tr = rowElement(id);
      fillRow(tr, state.rows.get(id));
      state.els.set(id, tr);
    }
    if (tr === at) {
      at = at.nextElementSibling;
    } else {
      if (state.fresh.has(id) && mayFlash()) tr.classList.add("fresh");
      body.insertBefore(tr, at);
    }
  }
  state.fresh.clear();
  // The row open, and the one tab stop: the row the keyboard was last on, else the one
  // open, else the first.
  const selected = body.querySelector("tr.selected");
  if (selected && Number(selected.dataset.id) !== state.selected) {
    selected.classList.remove("selected");
  }
  if (wanted.has(state.selected)) state.els.get(state.selected).classList.add("selected");
  const tabStop = [state.focus, state.selected].find((id) => wanted.has(id)) ?? shown[0];
  const stop = body.querySelector('tr[tabindex="0"]');
  if (stop && Number(stop.dataset.id) !== tabStop) stop.tabIndex = -1;
  if (tabStop !== undefined) state.els.get(tabStop).tabIndex = 0;
  // Not scrolled to: the list may have been scrolled away from the focused row.
  if (focused !== undefined && !body.contains(document.activeElement)) {
    state.els.get(focused)?.focus({ preventScroll: true });
  }
  showWaiting(waiting, body);
  const empty = $("#empty");
  empty.hidden = shown.length > 0 || waiting > 0;
  empty.textContent = state.order.length ? "No request matches these filters."
    : "Waiting for requests through devproxy…";
  if (state.methodsStale) {
    state.methodsStale = false;
    const methods = [...new Set([...state.rows.values()].map((r) => r.method))].sort();
    syncOptions($("#filter-method"), methods, "All methods");
  }
}

// The bar over the list while it is held: how many requests wait (matching the filters).
function showWaiting(count, body) {
  const bar = $("#waiting");
  const text = `${count} new request${count === 1 ? "" : "s"} ↑ show`;
  if (count && bar.textContent !== text) bar.textContent = text;
  if (bar.hidden === !count) return;
  const used = document.activeElement === bar;
  bar.hidden = !count;
  // Gone with the focus on it (Enter, a click): the keyboard goes on from the newest row,
  // not from <body>.
  if (used) body.firstElementChild?.focus({ preventScroll: true });
}

// Where the pointer is, and whether a press began on the list. A touch has no hover: its
// press holds the list until the tap's click, which comes after pointerup as a gesture of
// its own (a mouse's comes at once), or briefly if it makes none (a drag, a scroll).
function followPointer() {
  const wrap = $(".table-wrap");
  wrap.addEventListener("pointerenter", (event) => {
    if (event.pointerType !== "touch") state.hover = true;
  });
  wrap.addEventListener("pointerleave", () => {
    state.hover = false;
    renderList();
  });
  wrap.addEventListener("pointerdown", () => { state.pressed = true; });
  const unpress = () => {
    if (!state.pressed) return;
    state.pressed = false;
    renderList();
  };
  window.addEventListener("click", unpress);
  window.addEventListener("pointercancel", unpress);
  window.addEventListener("pointerup", () => setTimeout(unpress, 300));
}

// A select's options: "all" (label), then values, each shown as itself or as names says.
function syncOptions(select, values, label, names = new Map()) {
  const current = [...select.options].slice(1).map((o) => o.value);
  if (current.join() === values.join()) return;
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, label),
    ...values.map((v) => el("option", { value: v }, names.get(v) ?? v)));
  select.value = values.includes(chosen) ? chosen : "";
  if (select.value !== chosen) showAll();  // its choice is gone: show everything again
}

function upsert(row, isNew) {
  if (!state.rows.has(row.id)) {
    // Newest first by id, whatever order the events came in.
    let at = 0;
    while (at < state.order.length && state.order[at] > row.id) at += 1;
    state.order.splice(at, 0, row.id);
    state.methodsStale = true;
    if (isNew) state.fresh.add(row.id);
    while (state.order.length > state.history) {
      const gone = state.order.pop();
      state.rows.delete(gone);
      state.els.delete(gone);  // drawList takes it out of the page
      if (gone === state.selected) markGone(`devproxy keeps the last ${state.history} requests`);
    }
    if (at >= state.history) return;  // already too old: trimmed off the end just now
  }
  state.rows.set(row.id, row);
  state.changed.add(row.id);
  renderList(false);
  // A stream still open is updated every second: not while text is selected in it.
  const reading = row.duration_ms === null && !window.getSelection().isCollapsed;
  if (row.id === state.selected && !reading) showDetail(row.id);
}

function replaceList(rows) {
  // The list as devproxy keeps it now (newest first): each time the live stream opens,
  // and whenever the page fell so far behind that devproxy sent it afresh.
  forgetRows();
  for (const row of rows.reverse()) upsert(row, false);
  renderList();
  if (state.selected !== null && !state.rows.has(state.selected)) {
    markGone("cleared, or past the last " + state.history);
  }
}

// The list afresh (a reset, Clear) is shown as it comes, held or not: its rows are new
// elements all, and nothing the pointer was on is left to hold.
function forgetRows() {
  state.rows.clear(); state.order = []; state.fresh.clear();
  state.els.clear(); state.changed.clear(); state.methodsStale = true;
  state.release = true;
}

// The request shown left devproxy's memory (the ring moved on, or another page cleared
// it): say so above what is still shown, and offer no replay of it.
function markGone(why) {
  const pane = $("#detail");
  if (pane.querySelector("#gone")) return;
  pane.prepend(el("p", { id: "gone", class: "note gone" },
    `No longer kept (${why}): shown as it was.`));
  const button = pane.querySelector("#replay");
  if (button) button.remove();
}

// -- detail ----------------------------------------------------------------------------

// The element of the detail the keyboard is on, as a way to find its like in the detail
// made afresh: by id, by its place (a scrolled box), else as the nth of its kind.
function focusedIn(pane) {
  const active = document.activeElement;
  if (active === pane || !pane.contains(active)) return () => null;
  if (active.id) return () => pane.querySelector(`#${CSS.escape(active.id)}`);
  if (active.dataset.place !== undefined) {
    return () => pane.querySelector(`[data-place="${CSS.escape(active.dataset.place)}"]`);
  }
  const n = [...pane.querySelectorAll(active.tagName)].indexOf(active);
  return () => pane.querySelectorAll(active.tagName)[n];
}

// A field's name, wrapped at its hyphens only (style.css); a part longer than a column
// may be wide breaks where it must.
const nameCell = (name) => el("td", /[^-]{25}/.test(name) ? { class: "long-name" } : {}, name);

function headerTable(headers, changes, side) {
  const byName = new Map(changes.map((c) => [c.name, c]));
  // Of a name changed, only the values that are new: one Set-Cookie rewritten of six
  // marks one row. Each value of before matches one row, as often as it was there.
  const unmatched = new Map(changes.filter((c) => c.change === "changed")
    .map((c) => [c.name, [...c.before]]));
  const changedRows = new Map();  // of each name changed, the rows with a new value
  const marked = headers.map(([name, value]) => {
    const change = byName.get(name.toLowerCase());
    let kind = change && side === "after" ? change.change : "";
    if (kind === "changed") {
      const before = unmatched.get(change.name);
      const at = before.indexOf(value);
      if (at >= 0) {
        before.splice(at, 1);
        kind = "";
      } else {
        changedRows.set(change.name, (changedRows.get(change.name) || 0) + 1);
      }
    }
    return [name, value, kind];
  });
  // A value changed in place (Host, with change_origin) says what it was, on its own
  // row, where each new value stands for one old one; else (two fields merged into one,
  // Vary in CORS mode) the old values are rows of their own, marked removed.
  const paired = new Set([...unmatched].filter(([name, left]) => left.length === changedRows.get(name))
    .map(([name]) => name));
  const rows = marked.map(([name, value, kind]) => {
    const was = kind === "changed" && paired.has(name.toLowerCase())
      ? unmatched.get(name.toLowerCase()).shift() : undefined;
    return el("tr", { class: kind }, nameCell(name),
      el("td", {}, value, kind ? el("span", { class: "mark" }, kind) : null,
        was !== undefined ? el("span", { class: "was" }, `was ${was}`) : null));
  });
  if (side === "after") {
    // Values gone: a name removed whole, and those of a changed name left unmatched
    // (one of two Vary fields merged away, say).
    const gone = changes.filter((c) => c.change === "removed")
      .map((c) => [c.name, c.before])
      .concat([...unmatched.entries()]);
    for (const [name, values] of gone) {
      for (const value of values) {
        rows.push(el("tr", { class: "removed" }, nameCell(name),
          el("td", {}, value, el("span", { class: "mark" }, "removed"))));
      }
    }
  }
  return el("table", { class: "headers" }, rows);
}

// Fixes shown at once; past one more than that, the rest wait behind "N more", named.
// devproxy puts the fix for the stack the response names (Express, uvicorn...) first.
const FIXES_SHOWN = 3;

// A verdict's reason, cause and fixes; ``place`` names its "more" control, which stays
// open when the detail is drawn again.
function explained(verdict, place) {
  const fixes = verdict.fixes || [];
  const fix = (f) => el("div", {}, el("h4", {}, f.tool), el("pre", {}, f.text));
  const shown = fixes.length > FIXES_SHOWN + 1 ? FIXES_SHOWN : fixes.length;
  const more = fixes.slice(shown);
  return el("div", {}, verdict.reason, el("p", {}, verdict.cause), fixes.slice(0, shown).map(fix),
    more.length ? el("details", { class: "more-fixes", "data-place": place },
      el("summary", {}, `${more.length} more fixes: ${more.map((f) => f.tool).join(", ")}`),
      more.map(fix)) : null);
}

// A Set-Cookie's verdict as a badge to scan by: [class, label]. A third-party cookie
// first: browsers that block those drop it whatever the credentials mode.
const cookieBadge = (c) => (!c.stored ? ["dropped", "dropped"]
  : c.third_party ? ["unsure", "third-party"]
    : c.needs_credentials ? ["unsure", "needs credentials"]
      : c.deletes ? ["deletes", "deletes"] : ["stored", "stored"]);

// One Set-Cookie's verdict: its badge, then its name and why.
function cookieRow(c) {
  const [kind, label] = cookieBadge(c);
  return el("div", { class: `cookie ${kind}` }, el("span", { class: `badge ${kind}` }, label),
    el("strong", {}, c.name || "(no name)"),
    el("span", { class: "why" }, c.stored ? (c.note || "stored by the browser") : c.reason));
}

function bodyBlock(title, body) {
  if (!body) return null;
  if (body.dropped) {
    return el("div", {}, el("h4", {}, `${title} · ${body.type || "no type"} · `
      + size(body.total)), el("p", { class: "note" }, "not kept: the inspector keeps a "
      + "limited amount of body bytes, and drops the oldest first"));
  }
  // JSON re-indented by devproxy with every token as sent: JSON.parse would round a
  // 64-bit id, and show 1.10 as 1.1.
  const text = body.pretty ?? body.text;
  const coded = body.encoding ? ` · ${body.encoding}` : "";
  const note = body.undecoded
    ? `${body.encoding}-encoded body, not shown (the inspector decodes gzip and deflate)`
    : body.file ? "sent from the route's folder as the file is: not kept, open the file"
      : "binary body, not shown";
  // A coded body decoded only up to the inspector's limit: the text stops there.
  const amount = body.decoded_cut ? `first ${size(body.size)} decoded, of ${size(body.total)}`
    + " as sent" : body.truncated ? `first ${size(body.kept)} of ${size(body.total)}`
    : size(body.size);
  return el("div", {}, el("h4", {}, `${title} · ${body.type || "no type"}${coded} · ${amount}`),
  body.parts ? formParts(body.parts, body.parts_more)
    : body.lossy !== undefined ? el("div", {}, el("p", { class: "note", "data-place": `${title} note` },
      `not valid UTF-8: ${body.bad_bytes} byte${body.bad_bytes === 1 ? "" : "s"} shown as �`),
    el("pre", { "data-place": title }, body.lossy))
      : body.binary || body.file ? el("p", { class: "note" }, note)
        : el("pre", { "data-place": title }, text));
}

// A multipart/form-data body: one row per field, a file as its name, type and size.
function formParts(parts, more) {
  const rest = more ? el("tr", {}, el("td", {}), el("td", { class: "note" },
    `and ${more} more ${more === 1 ? "part" : "parts"}, not listed`)) : null;
  return el("table", { class: "headers form-parts" }, parts.map((p) => {
    const cut = p.truncated ? el("span", { class: "mark" }, "cut here") : null;
    const open = p.unterminated ? el("span", { class: "mark" }, "no closing boundary") : null;
    const about = [p.type, p.size === undefined ? null : size(p.size)].filter(Boolean);
    const value = p.filename !== undefined
      ? [el("span", { class: "file" }, `file ${JSON.stringify(p.filename)}`),
        about.length ? ` · ${about.join(" · ")}` : ""]
      : p.text !== undefined ? p.text + (p.text_cut ? " …" : "") : about.join(" · ");
    return el("tr", {}, nameCell(p.name || "(no name)"), el("td", {}, value, cut, open));
  }), rest);
}

// The element of the detail matching selector, while the detail shows request.
function inDetail(request, selector) {
  const pane = $("#detail");
  return pane.dataset.shown === String(request) ? $(selector, pane) : null;
}

function copyButton(label, text, id, request) {
  const said = state.passing?.request === request && state.passing.id === id;
  return el("button", {
    class: "button", id,
    onclick: async () => {
      let copied = true;
      try { await navigator.clipboard.writeText(text); } catch (e) { copied = false; }
      // No clipboard outside a secure context (a page on http://myapp.test, say).
      const passing = { request, id, text: copied ? "Copied ✓"
        : "Copy failed: select the text below" };
      state.passing = passing;
      const button = inDetail(request, `#${id}`);
      if (button) button.textContent = passing.text;
      setTimeout(() => {
        if (state.passing === passing) state.passing = null;
        // The button as it is now (the detail may have been made afresh), unless a
        // second click on it said something since.
        const now = inDetail(request, `#${id}`);
        if (now && state.passing?.id !== id) now.textContent = label;
      }, 1200);
    },
  }, said ? state.passing.text : label);
}

// A request's timing in words, then as a bar of the parts it had, named below it. Only
// the parts it had: devproxy's own answers and a folder's have no connection or first
// byte ("connect – ms · first byte – ms" said nothing), a backend not reached no
// connection, one that never answered no first byte. A part it did not have gets no
// segment: a 502's bar was all "waiting".
function timing(r) {
  const ended = r.duration_ms !== null;
  const words = [];
  if (r.connect_ms !== null) words.push(`connect ${ms(r.connect_ms)} ms`);
  else if (r.upstream_url && r.ttfb_ms === null) {
    words.push(ended ? "no connection" : "connecting…");
  }
  if (r.ttfb_ms !== null) words.push(`first byte ${ms(r.ttfb_ms)} ms`);
  else if (r.connect_ms !== null) words.push(ended ? "no response" : "waiting…");
  words.push(ended ? `total ${ms(r.duration_ms)} ms` : "still open");
  const text = words.join(" · ");
  if (!ended || r.connect_ms === null || !r.duration_ms) return [text];  // nothing to split
  const total = r.duration_ms;
  const answered = r.ttfb_ms ?? total;  // no answer: waited to the end
  const segments = [
    ["connect", "connecting", r.connect_ms],
    ["wait", r.ttfb_ms !== null ? "waiting for the first byte" : "waiting: no response",
      answered - r.connect_ms],
    ["receive", "receiving", total - answered],
  ].filter(([, , part]) => part > 0);
  const said = segments.map(([, name, part]) => `${name} ${ms(part)} ms`);
  return [text,
    el("div", { class: "timing", role: "img", "aria-label": said.join(", ") },
      segments.map(([cls, , part], i) => el("span", {
        class: cls, title: said[i], style: `width:${(part / total) * 100}%`,
      }))),
    el("div", { class: "timing-legend", "aria-hidden": "true" },
      segments.map(([cls, name]) => el("span", {}, el("i", { class: cls }), name)))];
}

// A URL refused for its length may be 70 KB, which printed whole made the detail 21,000 px
// tall: shown cut, whole in the element's title (and the curl commands).
function cut(text, limit = 300) {
  if (text.length <= limit) return text;
  // Not between the two halves of a surrogate pair (an emoji).
  const end = /[\uD800-\uDBFF]/.test(text[limit - 1]) ? limit - 1 : limit;
  return `${text.slice(0, end)}…`;
}

async function select(id) {
  state.selected = id;
  state.replayFailed = null;
  state.focus = id;  // Tab back into the list lands on the request open
  renderList();
  await showDetail(id);
}

async function showDetail(id) {
  let r;
  try {
    r = await ask(`api/requests/${id}`);
  } catch (e) {
    if (state.selected !== id) return;
    if (e.status) showNothing("This request is no longer kept.");
    else showUnanswered(id);
    return;
  }
  const pane = $("#detail");
  if (state.selected !== id) return;  // another request was opened meanwhile

  const parts = [
    // Read as in the list (readable()); as sent in the title.
    // Focused by script only (after a replay): a heading, not a tab stop.
    el("h2", { title: r.target, tabindex: "-1" }, `${r.method} ${cut(readable(r.target))}`),
    el("div", { class: "card" }, el("dl", { class: "kv" },
      el("dt", {}, "Status"), r.cors && !r.cors.allowed
        ? el("dd", { class: "status blocked" }, r.cors.headline
          ? `${r.status}, blocked if the request is sent with credentials`
          : r.kind === "preflight"
          ? `${r.status}, failed the CORS check: the browser did not send the request`
          : `${r.status}, blocked by CORS: the page never saw it`)
        // Marked as in the list: a status that ended in an error is not a success.
        : el("dd", { class: r.status && r.error ? "status blocked" : `status s${Math.floor(r.status / 100)}` },
          r.status ? `${r.status} ${r.reason || ""}`.trim() : (r.error ? "no answer"
            : r.duration_ms !== null ? "none: the page closed it first" : "pending")),
      r.error ? el("dt", {}, "Error") : null, r.error ? el("dd", { id: "error" }, r.error) : null,
      el("dt", {}, "Route"), el("dd", {}, r.route || "none"),
      el("dt", {}, "Upstream URL"), el("dd", { id: "upstream-url", title: r.upstream_url || null },
        cut(readable(r.upstream_url)) || "–"),
      el("dt", {}, "Kind"), el("dd", {}, r.kind),
      r.replay_of !== null ? el("dt", {}, "Replay of") : null,
      r.replay_of !== null ? el("dd", { id: "replay-of" }, el("a", {
        href: "#", onclick: (e) => { e.preventDefault(); select(r.replay_of); },
      }, `#${r.replay_of}`), " (sent again from this page)") : null,
      el("dt", {}, "Timing"), el("dd", { id: "timing" }, ...timing(r)),
      el("dt", {}, "Bytes"), el("dd", {}, `${size(r.bytes_in)} up · ${size(r.bytes_out)} down`),
      el("dt", {}, "Client"), el("dd", {}, r.remote)),
    el("div", { class: "actions" },
      copyButton("Copy as curl (browser)", r.curl.browser, "copy-browser", r.id),
      r.curl.upstream
        ? copyButton("Copy as curl (to backend)", r.curl.upstream, "copy-upstream", r.id) : null,
      // Not offered where devproxy would refuse it (a WebSocket, a body not kept whole,
      // a header byte its client cannot write): its reason is said below instead.
      r.replay_refused ? null : el("button", {
        class: "button", id: "replay", onclick: () => replay(r.id),
        disabled: state.replaying === r.id ? "" : null,
      }, state.replaying === r.id ? "Replaying…" : "Replay")),
    state.replayFailed?.request === r.id ? replayFailure(state.replayFailed.text) : null,
    r.replay_refused ? el("p", { class: "note", id: "replay-refused" },
      r.replay_refused[0].toUpperCase() + r.replay_refused.slice(1)) : null),
  ];

  if (r.cors) {
    const c = r.cors;
    parts.push(el("h3", {}, "CORS verdict"), el("div", {
      id: "cors-verdict", class: `card verdict ${c.allowed ? "" : "blocked"}`,
    }, el("strong", {}, c.headline || (c.allowed ? `Allowed for ${c.origin}` : `Blocked for ${c.origin}`)),
    // A preflight's note says what it shows of credentials: it never carries cookies.
    c.allowed || c.note ? el("div", { class: "note", id: "cors-note" }, c.note || (c.credentials
      ? "Sent with a cookie: credentials mode \"include\"." : "Sent without cookies.")) : null,
    c.allowed ? null : explained(c, "cors-fixes"),
    c.warning ? el("p", { id: "cors-warning" }, c.warning) : null),
    c.with_credentials ? el("div", { id: "cors-credentials", class: "card verdict blocked" },
      el("strong", {}, "Blocked if sent with credentials"),
      el("div", { class: "note" }, c.with_credentials.note || ("No cookie was sent, so devproxy "
        + "cannot tell whether fetch() asked for credentials: \"include\" (a first login does, "
        + "before any cookie).")),
      explained(c.with_credentials, "cors-credentials-fixes")) : null);
  }

  parts.push(el("h3", {}, "Request: as the browser sent it → as devproxy sent it upstream"),
    el("div", { class: "columns", id: "request-diff" },
      el("div", {}, el("h4", {}, "Browser"), headerTable(r.browser_request, [], "before")),
      el("div", {}, el("h4", {}, "Upstream"),
        r.upstream_request.length ? headerTable(r.upstream_request, r.request_changes, "after")
          : el("p", { class: "note" }, "not forwarded"))));

  parts.push(el("h3", {}, "Response: as the backend sent it → as the browser got it"),
    el("div", { class: "columns", id: "response-diff" },
      el("div", {}, el("h4", {}, "Backend"),
        r.backend_response.length ? headerTable(r.backend_response, [], "before")
          : el("p", { class: "note" }, "answered by devproxy")),
      el("div", {}, el("h4", {}, "Browser"),
        headerTable(r.browser_response, r.backend_response.length ? r.response_changes : [],
          "after"))));

  if (r.cookies.length) {
    const counts = new Map();  // by badge, in the order they come
    for (const c of r.cookies) {
      const label = cookieBadge(c)[1];
      counts.set(label, (counts.get(label) || 0) + 1);
    }
    const counted = [...counts].map(([label, n]) => `${n} ${label}`).join(" · ");
    parts.push(el("h3", {}, `Cookies set · ${counted}`),
      el("div", { class: "card", id: "cookies" }, r.cookies.map(cookieRow)));
  }
  const bodies = [bodyBlock("Request body", r.request_body), bodyBlock("Response body", r.response_body)]
    .filter(Boolean);
  if (bodies.length) parts.push(el("h3", {}, "Bodies"), ...bodies);
  if (r.websocket) {
    const closed = r.websocket.closed;
    parts.push(el("h3", {}, `WebSocket · ${r.websocket.up} up · ${r.websocket.down} down`),
      closed ? el("div", { class: "card", id: "ws-closed" }, `Closed by ${closed.by} with ` +
        (closed.code === 1006 ? "no Close frame (1006)" : `code ${closed.code}`) +
        (closed.reason ? ` “${closed.reason}”` : "") + " after " + (closed.after_ms < 1000
          ? `${closed.after_ms} ms` : `${(closed.after_ms / 1000).toFixed(1)} s`)) : null,
      itemsBox("ws-messages", r.websocket.last.map((m) => `${m.up ? "↑" : "↓"} `
        // The size as on the wire: compressed, under permessage-deflate.
        + (m.binary ? `binary (${size(m.size)} on the wire): ${m.text}` : m.text)),
      r.websocket.up + r.websocket.down, "\n",
      // A handshake answered with anything but 101 opened no socket at all.
      r.status && r.status !== 101 ? "never opened: the handshake got " + r.status
        : "no messages yet"));
  }
  if (r.sse_unread && !r.sse_count) {
    // Not "0, no events yet": the browser got them, in a coding not read here.
    parts.push(el("h3", {}, "Server-sent events · not read"),
      el("p", { class: "note", id: "sse-unread" },
        r.sse_unread[0].toUpperCase() + r.sse_unread.slice(1) + "."));
  } else if (r.sse_events) {
    const shown = r.sse_events.length;
    parts.push(el("h3", {}, `Server-sent events · ${r.sse_count}`
      + (shown < r.sse_count ? ` · the last ${shown} shown` : "")),
    itemsBox("sse-events", r.sse_events, r.sse_count, "\n\n", "no events yet"));
    if (r.sse_unread) parts.push(el("p", { class: "note", id: "sse-unread" }, r.sse_unread));
  }
  // Each command under its name, as the copy buttons name them: two unnamed boxes left
  // the reader to tell them apart by their URLs.
  const curlBox = (id, label, text) => [
    el("h4", { class: "curl-label", id: `${id}-label` }, label),
    el("pre", { id, "data-place": id, "aria-labelledby": `${id}-label` }, text)];
  parts.push(el("h3", {}, "curl"),
    ...curlBox("curl-browser", "As the browser sent it", r.curl.browser),
    ...(r.curl.upstream
      ? curlBox("curl-upstream", "As devproxy sent it to the backend", r.curl.upstream) : []));
  const again = pane.dataset.shown === String(id);
  const places = again ? scrollPlaces(pane) : new Map();
  // What the keyboard is on keeps the focus: it went to <body> every second.
  const focused = again ? focusedIn(pane) : () => null;
  const opened = again ? [...pane.querySelectorAll("details[data-place][open]")]
    .map((box) => box.dataset.place) : [];
  pane.replaceChildren(...parts.filter(Boolean));
  pane.dataset.shown = id;
  for (const place of opened) {
    const box = pane.querySelector(`details[data-place="${place}"]`);
    if (box) box.open = true;
  }
  focused()?.focus({ preventScroll: true });
  for (const box of pane.querySelectorAll("pre[data-place]")) {
    const place = places.get(box.dataset.place);
    if (!place) continue;
    box.scrollLeft = place.left;
    if (place.atEnd) {
      box.scrollTop = box.scrollHeight;
    } else if (place.item !== undefined) {
      // The item read is kept where it was; one dropped off the top leaves the oldest.
      const item = box.querySelector(`[data-n="${place.item}"]`);
      box.scrollTop = item ? itemTop(box, item) + place.offset : 0;
    } else {
      box.scrollTop = place.top;
    }
  }
}

// devproxy stopped or restarting, said where the detail goes. A request opened meanwhile
// gets its heading from the list, so that the row highlighted and the detail agree (the
// old detail stayed, under another row); it is loaded when devproxy is back (loadStatus).
function showUnanswered(id) {
  const pane = $("#detail");
  pane.querySelector("#unanswered")?.remove();
  const kept = pane.dataset.shown === String(id);
  const note = el("p", { id: "unanswered", class: "note gone", role: "alert" }, `${NOT_ANSWERING}: `
    + (kept ? "shown as it was last loaded." : "this request is shown when it is back."));
  if (kept) {
    pane.prepend(note);
    return;
  }
  const row = state.rows.get(id);
  delete pane.dataset.shown;
  pane.replaceChildren(...[row && el("h2", { title: row.target },
    `${row.method} ${cut(readable(row.target))}`), note].filter(Boolean));
}

// A detail pane with no request in it, and no reading place to keep.
function showNothing(message) {
  const pane = $("#detail");
  delete pane.dataset.shown;
  pane.replaceChildren(el("p", { class: "empty" }, message));
}

// The last messages or events, each its own span numbered from the first ever seen:
// as the oldest leave, the one being read is found again by its number.
function itemsBox(id, texts, total, separator, empty) {
  const first = total - texts.length;
  return el("pre", { id, "data-place": id }, texts.length ? texts.map((text, i) =>
    el("span", { "data-n": first + i }, i < texts.length - 1 ? text + separator : text))
    : empty);
}

function itemTop(box, item) {
  return item.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop;
}

// Where each scrolled box of the detail stands, so that re-showing the same request (an
// open stream's, every second) keeps the reader's place instead of jumping to the top:
// in a box of numbered items, the first item in view; a box read to its end, or not yet
// full, follows what arrives, as a terminal does.
function scrollPlaces(pane) {
  const places = new Map();
  for (const box of pane.querySelectorAll("pre[data-place]")) {
    const place = {
      top: box.scrollTop, left: box.scrollLeft,
      atEnd: box.scrollTop + box.clientHeight >= box.scrollHeight - 2,
    };
    const top = box.getBoundingClientRect().top;
    const item = [...box.querySelectorAll("[data-n]")]
      .find((span) => span.getBoundingClientRect().bottom > top + 1);
    if (item) {
      place.item = item.dataset.n;
      place.offset = box.scrollTop - itemTop(box, item);
    }
    places.set(box.dataset.place, place);
  }
  return places;
}

async function replay(id) {
  // The answer comes with the response head, which a slow backend takes its time over:
  // say so, and take no second click meanwhile (showDetail keeps it so).
  state.replaying = id;
  state.replayFailed = null;
  const button = inDetail(id, "#replay");
  if (button) {
    button.disabled = true;
    button.textContent = "Replaying…";
  }
  inDetail(id, "#action-error")?.remove();
  let answer;
  try {
    answer = await ask(`api/requests/${id}/replay`, { method: "POST" });
  } catch (e) {
    // Under the buttons, where it was asked, while this request is the one shown.
    const text = `Not replayed: ${e.message}.`;
    const actions = inDetail(id, ".actions");
    if (actions) {
      state.replayFailed = { request: id, text };
      actions.after(replayFailure(text));
    } else {
      notice(text);
    }
    return;
  } finally {
    state.replaying = null;
    const now = inDetail(id, "#replay");  // the detail may have been made afresh
    if (now) {
      now.disabled = false;
      now.textContent = "Replay";
    }
  }
  if (answer.id === null) return;
  // The keyboard goes on from the new request's heading: the Replay button it was on
  // left with the old detail, and the focus fell to <body>, a Tab from the page's top.
  // Not if the focus went elsewhere while the replay was awaited.
  const active = document.activeElement;
  const onReplay = active === document.body || active === inDetail(id, "#replay");
  await select(answer.id);  // its own row: open it
  const heading = inDetail(answer.id, "h2");
  if (onReplay && heading) heading.focus();
}

function replayFailure(text) {
  return el("p", { id: "action-error", class: "note error", role: "alert" }, text);
}

// -- talking to devproxy ----------------------------------------------------------------

// Said in place of what was asked: "Failed to fetch" was an uncaught error in the
// console, and the page looked as if the click had been lost.
const NOT_ANSWERING = "devproxy is not answering (stopped or restarting?)";

// One call to devproxy's API: its answer (JSON, or the text of a failure's page). Throws
// an Error saying why in words: with .status 0, devproxy did not answer at all; else its
// own reason (a 404's "error").
async function ask(url, options) {
  let response, text;
  try {
    response = await fetch(url, options);
    text = await response.text();
  } catch (e) {
    throw Object.assign(new Error(NOT_ANSWERING), { status: 0 });
  }
  let body = text;
  try { body = JSON.parse(text); } catch (e) { /* plain text */ }
  if (!response.ok) {
    throw Object.assign(new Error(body?.error || text || `HTTP ${response.status}`),
      { status: response.status });
  }
  return body;
}

// A note under the header for what failed away from the detail (Clear); "" hides it.
function notice(message) {
  const note = $("#notice");
  note.textContent = message;
  note.hidden = !message;
}

// -- header: status, routes, live stream -----------------------------------------------

async function loadStatus() {
  let status;
  try {
    status = await ask("api/status");
  } catch (e) {
    return;  // devproxy is stopped or restarting: the "live" pill already says so
  }
  reconnectNow();  // devproxy answers: the list need not wait out the socket's backoff
  const listen = $("#listen");
  listen.textContent = listen.title = `${status.listen}${status.config ? ` · ${status.config}` : ""}`;
  const reload = status.reload;
  const badge = $("#reload");
  const failed = ["error", "partial", "missing"].includes(reload.outcome);
  badge.className = `pill ${failed ? "bad" : reload.outcome === "ok" ? "ok" : ""}`;
  badge.textContent = reload.outcome === "none" ? "config loaded"
    : `reload ${reload.outcome}${reload.diff.length ? `: ${reload.diff.join("; ")}` : ""}`;
  // Cut to one line on the page: every change on a line of its own here, with when it
  // was made, and when the file was last saved if that changed nothing.
  const when = reload.changed_at ? ` at ${clock(reload.changed_at)}` : "";
  const since = reload.at && reload.changed_at && reload.at !== reload.changed_at
    ? `saved again at ${clock(reload.at)}: no route changed` : "";
  badge.title = [reload.diff.length ? `reload ${reload.outcome}${when}:` : "", ...reload.diff,
    reload.message || "", since].filter(Boolean).join("\n");
  // What went wrong is the point of a failed reload: in full, not in a tooltip.
  const note = $("#reload-note");
  const said = !reload.message ? ""
    : reload.outcome === "error" || reload.outcome === "missing"
      ? `${reload.message}\nStill serving the routes below, from the last config that loaded.`
      : reload.message;
  note.hidden = !said;
  note.className = `reload-note${failed ? " bad" : ""}`;
  // Rewritten only when it changes: every 3 s would drop a selection (a file:line copied).
  if (note.textContent !== said) note.textContent = said;
  $("#routes").replaceChildren(...status.routes.map((r) => el("span", { class: "route" },
    `${r.path} → ${r.destination}${r.cors ? " (CORS)" : ""}`)));
  syncOptions($("#filter-route"), [...status.routes.map((r) => r.path), NO_ROUTE], "All routes",
    new Map([[NO_ROUTE, "No route (–)"]]));
  state.history = status.inspector.history;
  if (state.since !== undefined && state.since !== status.inspector.since) {
    // A restarted devproxy: its request 3 is not the one shown.
    state.selected = null;
    showNothing("devproxy restarted.");
  }
  state.since = status.inspector.since;
  // devproxy answers again (and is the same one): the request open is loaded now.
  if (state.selected !== null && $("#unanswered")) showDetail(state.selected);
}

// Whether the list is live, in words: a dot turning red alone was missed (and says
// nothing to a screen reader or to eyes that do not tell red from green).
const LIVE = {
  live: ["live", "Connected: requests appear as devproxy sees them."],
  reconnecting: ["reconnecting…", "devproxy is not answering (stopped or restarting): "
    + "the list shows what came before, and this page reconnects by itself."],
};

function showLive(how) {
  const pill = $("#live");
  [pill.textContent, pill.title] = LIVE[how];
  pill.classList.toggle("off", how !== "live");
}

// Reconnection waits, growing while devproxy stays away (an EventSource's few seconds).
const RETRY_MS = [250, 500, 1000, 2000, 5000];
let retry = null;  // the reconnection waiting out its time, while the socket is down

function reconnectNow() {
  if (retry === null) return;
  clearTimeout(retry.timer);
  retry.go();
}

function connect(lost = false, tries = 0) {
  // A WebSocket, not an EventSource: Chromium opens 6 HTTP/1.1 connections to an
  // origin, shared by every tab on it, and an open event stream holds one for good.
  // The inspector's took the last from an app with five streams of its own, whose
  // next fetch() then waited while this page was open. A socket is not one of them.
  // Each connection starts with a "reset" holding the whole list: what the page missed
  // while away, or a restarted devproxy's own requests.
  const url = new URL("api/live", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    showLive("live");
    if (!lost) return;
    lost = false;
    notice("");
    loadStatus();
  });
  socket.addEventListener("message", (e) => {
    for (const [event, data] of JSON.parse(e.data)) {
      if (event === "reset") {
        replaceList(data);
        document.body.dataset.ready = "true";
      } else {
        upsert(data, event === "request");
      }
    }
  });
  socket.addEventListener("close", () => {
    // devproxy stopping (1001, to restart as likely as not), gone, or refusing the
    // handshake: a page cannot tell these apart (each is 1006 to it), so it tries again.
    lost = true;
    showLive("reconnecting");
    const wait = opened ? RETRY_MS[0] : RETRY_MS[Math.min(tries, RETRY_MS.length - 1)];
    const go = () => {
      retry = null;
      connect(true, opened ? 0 : tries + 1);
    };
    retry = { go, timer: setTimeout(go, wait) };
  });
}

const PAUSE_TITLES = {
  pause: "Hold the list still: new requests wait above it until shown",
  resume: "Paused: new requests wait above the list. Show them as they come again",
};

async function start() {
  for (const id of ["#filter-text", "#filter-method", "#filter-status", "#filter-route"]) {
    $(id).addEventListener("input", showAll);
  }
  followPointer();
  window.addEventListener("resize", () => { $("#list").style.minWidth = ""; });
  // Held while pressed: what a keyboard has instead of the pointer's hover.
  $("#pause").addEventListener("click", (event) => {
    state.paused = !state.paused;
    // Says what a press does now: "Pause" unchanged, with only its colour to tell, read
    // as not paused. A label that changes makes it no toggle (no aria-pressed), as ARIA's
    // practices ask.
    const button = event.currentTarget;
    button.textContent = state.paused ? "Resume" : "Pause";
    button.title = state.paused ? PAUSE_TITLES.resume : PAUSE_TITLES.pause;
    button.classList.toggle("paused", state.paused);
    renderList();
  });
  $("#waiting").addEventListener("click", () => {
    showAll();
    $(".table-wrap").scrollTop = 0;  // "↑": they come above the rows shown
  });
  $("#clear").addEventListener("click", async () => {
    notice("");
    try {
      await ask("api/clear", { method: "POST" });
    } catch (e) {
      notice(`Not cleared: ${e.message}.`);  // and the list stays: devproxy still keeps it
      return;
    }
    forgetRows();
    state.selected = null;
    showNothing("Cleared.");
    renderList();
  });
  await loadStatus();
  connect();
  setInterval(loadStatus, 3000);
}

start();
