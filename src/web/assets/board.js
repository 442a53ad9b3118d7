// The web board's one script: drag and drop and keyboard moves on the
// board, live updates over server-sent events, the session log's tail and
// "load earlier". Everything works without it too (forms and links); it
// only makes the board live. No inline script anywhere: CSP allows 'self'.
"use strict";

(function () {
  const fetchHeaders = (csrf) => ({ "X-VK-Fetch": "1", "X-CSRF-Token": csrf });

  function say(text) {
    const live = document.getElementById("live");
    if (live) live.textContent = text;
  }

  // ---- The board ---------------------------------------------------------
  const board = document.getElementById("board");
  if (board) {
    const project = board.dataset.project;
    const csrf = board.dataset.csrf;
    const canEdit = board.dataset.edit === "1";
    const query = board.dataset.query;
    let dragged = null;
    let refreshing = false;
    let again = false;

    async function refresh() {
      if (refreshing) { again = true; return; }
      refreshing = true;
      try {
        const focused = document.activeElement && document.activeElement.closest(".card");
        const focusId = focused ? focused.dataset.id : null;
        const res = await fetch(`/p/${project}/columns${query ? "?" + query : ""}`, { headers: fetchHeaders(csrf) });
        if (res.status === 401) { location.href = "/signin"; return; }
        if (!res.ok) { say("Could not refresh the board (" + res.status + ")."); return; }
        board.innerHTML = await res.text();
        if (focusId) {
          const card = board.querySelector(`.card[data-id="${CSS.escape(focusId)}"]`);
          if (card) card.focus();
        }
        board.dispatchEvent(new CustomEvent("vk:refreshed", { bubbles: true }));
      } finally {
        refreshing = false;
        if (again) { again = false; refresh(); }
      }
    }

    async function move(id, fields) {
      const body = new URLSearchParams(fields);
      body.set("_csrf", csrf);
      const res = await fetch(`/t/${id}/move`, { method: "POST", headers: fetchHeaders(csrf), body });
      if (!res.ok) say("The move was refused: " + (await res.text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim());
      else say("Moved.");
      await refresh();
    }

    // Keyboard and button moves: one set of buttons, in the focused card.
    const labels = { left: "Move to the previous column", up: "Move up", down: "Move down", right: "Move to the next column" };
    const arrows = { left: "\u2190", up: "\u2191", down: "\u2193", right: "\u2192" };
    const moves = document.createElement("div");
    moves.className = "moves";
    for (const dir of ["left", "up", "down", "right"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.value = dir;
      button.textContent = arrows[dir];
      button.setAttribute("aria-label", labels[dir]);
      button.title = labels[dir] + " (Shift+" + arrows[dir] + ")";
      moves.appendChild(button);
    }
    board.addEventListener("focusin", (e) => {
      const card = e.target.closest && e.target.closest(".card");
      if (!card || !canEdit || moves.parentNode === card) return;
      const column = card.closest(".column");
      moves.querySelector("[value=left]").hidden = !column.previousElementSibling;
      moves.querySelector("[value=right]").hidden = !column.nextElementSibling;
      card.appendChild(moves);
    });
    board.addEventListener("click", (e) => {
      const button = e.target.closest(".moves button");
      if (!button) return;
      e.preventDefault();
      const card = button.closest(".card");
      move(card.dataset.id, { dir: button.value });
    });
    board.addEventListener("keydown", (e) => {
      const card = e.target.closest(".card");
      if (!card || !canEdit || !e.shiftKey || e.target !== card) return;
      const dir = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down" }[e.key];
      if (!dir) return;
      e.preventDefault();
      move(card.dataset.id, { dir });
    });

    // Drag and drop between and within columns.
    board.addEventListener("dragstart", (e) => {
      const card = e.target.closest && e.target.closest(".card");
      if (!card || !canEdit) return;
      dragged = card;
      e.dataTransfer.setData("text/plain", card.dataset.id);
      e.dataTransfer.effectAllowed = "move";
      card.classList.add("dragging");
    });
    board.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
    });
    board.addEventListener("dragover", (e) => {
      const column = e.target.closest && e.target.closest(".column");
      if (!column || !dragged) return;
      e.preventDefault();
      const list = column.querySelector(".cards");
      const after = [...list.querySelectorAll(".card:not(.dragging)")].find((c) => {
        const box = c.getBoundingClientRect();
        return e.clientY < box.top + box.height / 2;
      });
      if (after) list.insertBefore(dragged, after); else list.appendChild(dragged);
    });
    board.addEventListener("drop", (e) => {
      if (!dragged) return;
      e.preventDefault();
      const card = dragged;
      const list = card.closest(".cards");
      const next = card.nextElementSibling;
      card.classList.remove("dragging");
      dragged = null;
      move(card.dataset.id, { status: list.dataset.status, before: next ? next.dataset.id : "" });
    });

    // Live: the server says when the board changed.
    const events = new EventSource(`/p/${project}/events?since=${encodeURIComponent(board.dataset.version)}`);
    events.addEventListener("board", () => refresh());
    events.onerror = () => say("Live updates paused; reconnecting…");
    events.onopen = () => say("");
  }

  // ---- A task's comments and activity -------------------------------------
  // Live like the board: its project's events say something changed, and
  // the lists are fetched again — unless a comment is being edited there,
  // then once the editor is closed.
  const discussion = document.getElementById("discussion");
  if (discussion) {
    const { task, project, query } = discussion.dataset;
    let pending = false;
    const editing = () => !!discussion.querySelector("details[open]");
    async function refreshDiscussion() {
      if (editing()) { pending = true; return; }
      pending = false;
      const res = await fetch(`/t/${task}/discussion${query ? "?" + query : ""}`, { headers: { "X-VK-Fetch": "1" } });
      if (res.ok && !editing()) discussion.innerHTML = await res.text();
    }
    discussion.addEventListener("toggle", () => { if (pending && !editing()) refreshDiscussion(); }, true);
    const events = new EventSource(`/p/${project}/events?since=${encodeURIComponent(discussion.dataset.version)}`);
    events.addEventListener("board", () => refreshDiscussion());
  }

  // ---- A session's log ---------------------------------------------------
  // The page holds a window of the log (at most MAX_SHOWN bytes, in pages
  // of the server's choosing that meet between lines), so a 200 MB log can
  // be paged back to its start without the page growing. While the window
  // reaches the end of a running session's log, the server streams what
  // is written; paging away closes that stream, coming back reopens it.
  const log = document.getElementById("log");
  if (log) {
    const MAX_SHOWN = 1024 * 1024;
    const session = log.dataset.session;
    const follow = document.getElementById("log-follow");
    const range = document.getElementById("log-range");
    const button = (id) => document.getElementById(id);
    const first = button("log-first"), earlier = button("log-earlier");
    const later = button("log-later"), last = button("log-last");
    let start = Number(log.dataset.start), end = Number(log.dataset.end);
    let total = Number(log.dataset.total);
    let live = log.dataset.live === "1";
    let attached = true;
    let events = null;
    let busy = false;

    const fmt = (n) => n.toLocaleString("en");
    function show() {
      log.dataset.start = start;
      log.dataset.end = end;
      range.textContent = `Bytes ${fmt(start)}\u2013${fmt(end)} of ${fmt(Math.max(total, end))}`;
      first.disabled = earlier.disabled = start === 0;
      later.disabled = last.disabled = attached;
    }
    const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 4;
    function toBottom() {
      if (attached && follow.checked) log.scrollTop = log.scrollHeight;
    }
    // Scrolling up stops following; scrolling back to the end resumes it.
    log.addEventListener("scroll", () => { follow.checked = attached && atBottom(); });
    function page(chunk) {
      const span = document.createElement("span");
      span.className = "pg";
      span.dataset.start = chunk.start;
      span.dataset.end = chunk.end;
      span.innerHTML = chunk.html;
      return span;
    }
    // Keeps the window within MAX_SHOWN, dropping pages from the side
    // away from `keep` ("end": the older ones, "start": the newer ones).
    function trim(keep) {
      while (end - start > MAX_SHOWN && log.children.length > 1) {
        if (keep === "end") {
          const gone = log.firstElementChild;
          const height = log.scrollHeight;
          gone.remove();
          if (!follow.checked) log.scrollTop -= height - log.scrollHeight;
          start = Number(log.firstElementChild.dataset.start);
        } else {
          log.lastElementChild.remove();
          end = Number(log.lastElementChild.dataset.end);
          detach();
        }
      }
    }
    function detach() {
      attached = false;
      follow.checked = false;
      if (events) { events.close(); events = null; }
    }
    function attach() {
      attached = true;
      if (live && !events) stream();
    }
    function stream() {
      events = new EventSource(`/s/${session}/events?from=${end}`);
      events.addEventListener("log", (e) => {
        const chunk = JSON.parse(e.data);
        total = Math.max(total, chunk.total || 0);
        if (!attached || chunk.end <= end) return;
        log.appendChild(page(chunk));
        end = chunk.end;
        trim("end");
        show();
        toBottom();
      });
      events.addEventListener("end", () => {
        events.close();
        events = null;
        // The final message and the diff are drawn by the server.
        setTimeout(() => location.reload(), 300);
      });
      events.addEventListener("error", (e) => { if (e.data) { events.close(); events = null; } });
    }
    async function fetchPage(query) {
      const res = await fetch(`/s/${session}/log?${query}`, { headers: { "X-VK-Fetch": "1" } });
      if (!res.ok) { range.textContent = "Could not read the log (" + res.status + ")."; return null; }
      const chunk = await res.json();
      total = chunk.total;
      live = chunk.running;
      return chunk;
    }
    // One page request at a time; the buttons stay where they are.
    const once = (run) => async () => {
      if (busy) return;
      busy = true;
      try { await run(); } finally { busy = false; show(); }
    };
    // A window that starts over with `chunk`.
    function replace(chunk) {
      log.replaceChildren(page(chunk));
      start = chunk.start;
      end = chunk.end;
    }
    earlier.addEventListener("click", once(async () => {
      const chunk = await fetchPage(`before=${start}`);
      if (!chunk) return;
      const height = log.scrollHeight;
      log.insertBefore(page(chunk), log.firstChild);
      log.scrollTop += log.scrollHeight - height;
      start = chunk.start;
      trim("start");
    }));
    first.addEventListener("click", once(async () => {
      const chunk = await fetchPage("from=0");
      if (!chunk) return;
      detach();
      replace(chunk);
      log.scrollTop = 0;
      if (end >= total) attach();
    }));
    later.addEventListener("click", once(async () => {
      const chunk = await fetchPage(`from=${end}`);
      if (!chunk) return;
      log.appendChild(page(chunk));
      end = chunk.end;
      trim("end");
      if (end >= total) attach();
    }));
    async function backToTail() {
      const chunk = await fetchPage("");
      if (!chunk) return;
      replace(chunk);
      follow.checked = true;
      attach();
      toBottom();
    }
    last.addEventListener("click", once(backToTail));
    follow.addEventListener("change", () => {
      if (!follow.checked) return;
      if (attached) toBottom(); else once(backToTail)();
    });
    show();
    toBottom();
    if (live) stream();
  }
})();
