// The Review page's candidate view and keyboard (a Streamlit v2 component).
//
// Draws the query, its positives and one compact table row per candidate from the JSON the
// page sends (`data`), with text nodes only (user text never becomes HTML), and turns key
// presses and row buttons into review events.
//
// Why a queue: a key press must act on what the reviewer sees. Every event that needs the
// server (a decision, done, undo, navigation) names the query, the candidate and the query's
// version as drawn, and is sent alone; the next one waits until the page drawn *after* it
// has arrived (its `ack` >= the event's sequence number). Keys pressed meanwhile are queued
// (shown as "N keys waiting") and handled one by one against each new drawing, so a burst of
// presses gives exactly what the same presses typed slowly give. Streamlit coalesces trigger
// values sent in quick succession, so sending a burst directly would lose presses. The store
// still checks the version (compare-and-set): a press drawn against a state that moved on (a
// second tab) is refused, the page says so, and the keys queued behind it are dropped.
//
// Also here: graded relevance (Shift+0-3), the queue's reasons on the rows it names, a
// side-by-side word diff of a near-duplicate against its positive (V), corpus-search hits as
// rows of their own (A adds the selected hit as a negative, P as a positive), and keys that
// focus the page's own fields: / the corpus search, C the note, Q the queue; F opens the flag
// form, S the session summary.

const DECISION_WORDS = { accept: "accepted", reject: "rejected", positive: "positive" };
const KEY_OPS = {
  j: { op: "nav", to: "next" },
  k: { op: "nav", to: "prev" },
  n: { op: "nav", to: "todo" },
  a: { op: "decide", d: "accept" },
  x: { op: "decide", d: "reject" },
  p: { op: "decide", d: "positive" },
  d: { op: "done" },
  u: { op: "undo" },
  f: { op: "panel", what: "flag" },
  s: { op: "panel", what: "summary" },
  v: { op: "diff" },
};
// keys that move the focus to one of the page's Streamlit fields (found by their label)
const FOCUS_KEYS = {
  "/": 'input[aria-label="Search the corpus"]',
  c: 'input[aria-label="Note on this query"]',
  q: 'input[aria-label="Review queue"]',
};
const GRADE_CODES = { Digit0: 0, Digit1: 1, Digit2: 2, Digit3: 3, Numpad0: 0, Numpad1: 1, Numpad2: 2, Numpad3: 3 };
const RESEND_MS = 5000;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// Text with highlighted runs [start, end, mask] (offsets in code points, as Python counts).
function marked(parent, text, runs) {
  const cps = Array.from(text || "");
  let pos = 0;
  for (const [s, e, m] of runs || []) {
    if (s > pos) parent.appendChild(document.createTextNode(cps.slice(pos, s).join("")));
    parent.appendChild(el("mark", "h" + m, cps.slice(s, e).join("")));
    pos = e;
  }
  if (pos < cps.length) parent.appendChild(document.createTextNode(cps.slice(pos).join("")));
  return parent;
}

function num(v, digits) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

function rowsInView(S) {
  return S.data.rows.filter((r) => r.section !== "filtered" || S.openFiltered);
}

function focusField(selector, tries) {
  const target = document.querySelector(selector);
  if (target) {
    target.focus();
    if (target.select) target.select();
    return;
  }
  if (tries > 0) setTimeout(() => focusField(selector, tries - 1), 100);
}

function findRow(S, pid) {
  return S.data.rows.find((r) => r.pid === pid) || null;
}

function say(S, text) {
  S.localNote = text || "";
  if (S.noteEl) S.noteEl.textContent = S.localNote;
}

function paintPending(S) {
  if (!S.pendingEl) return;
  const waiting = S.queue.length + (S.pending ? 1 : 0);
  S.maxWaiting = Math.max(S.maxWaiting || 0, waiting);
  S.pendingEl.textContent = waiting ? `saving… ${waiting} key${waiting > 1 ? "s" : ""} waiting` : "";
  S.root.dataset.busy = waiting ? "1" : "0";
}

function paintSelection(S, scroll) {
  for (const tr of S.root.querySelectorAll("tr.row")) {
    const on = Number(tr.dataset.pid) === S.sel;
    tr.classList.toggle("sel", on);
    if (on && scroll) tr.scrollIntoView({ block: "nearest" });
  }
}

function send(S, ev, t0) {
  S.seq += 1;
  S.pending = Object.assign({ seq: S.seq }, ev);
  S.pendingT0 = t0;
  S.sentAt = performance.now();
  S.setTrigger("act", S.pending);
  clearTimeout(S.timer);
  S.timer = setTimeout(() => resend(S), RESEND_MS);
}

function resend(S) {
  if (!S.pending) return;
  S.pending.retry = (S.pending.retry || 0) + 1;
  S.setTrigger("act", Object.assign({}, S.pending));
  S.timer = setTimeout(() => resend(S), RESEND_MS);
}

// Handle one queued item against the current drawing; true when it went to the server.
function handle(S, it) {
  const d = S.data;
  if (it.op === "select") {
    const rows = rowsInView(S).filter((r) => r.section !== "filtered");
    if (it.index < rows.length) S.sel = rows[it.index].pid;
    paintSelection(S, true);
    return false;
  }
  if (it.op === "pick") {
    S.sel = it.pid;
    paintSelection(S, false);
    return false;
  }
  if (it.op === "move") {
    const rows = rowsInView(S);
    if (!rows.length) return false;
    let i = rows.findIndex((r) => r.pid === S.sel);
    i = i < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, i + it.delta));
    S.sel = rows[i].pid;
    paintSelection(S, true);
    return false;
  }
  if (it.op === "decide") {
    const pid = it.pid !== undefined ? it.pid : S.sel;
    const row = pid === null || pid === undefined ? null : findRow(S, pid);
    if (!row) {
      say(S, "Select a candidate first (1-9 or the arrow keys).");
      return false;
    }
    if (it.d === "accept" && !row.can_accept) {
      say(S, "This passage is the query's own positive: it cannot be accepted as a negative.");
      return false;
    }
    const search = row.section === "search";
    if (search && it.d !== "accept" && it.d !== "positive") {
      say(S, "A search hit is not a candidate: A adds it as a negative, P as a positive.");
      return false;
    }
    S.sel = pid;
    const ev = { op: "decide", qid: d.qid, v: d.v, pid: pid, d: it.d };
    if (search) ev.search = true;
    send(S, ev, it.t);
    return true;
  }
  if (it.op === "grade") {
    const pid = it.pid !== undefined ? it.pid : S.sel;
    const row = pid === null || pid === undefined ? null : findRow(S, pid);
    if (!row || row.section === "search") {
      say(S, row ? "Add the search hit first (A or P), then grade it." : "Select a candidate first (1-9 or the arrow keys).");
      return false;
    }
    const g = row.grade === it.g ? null : it.g; // the same grade again clears it
    send(S, { op: "grade", qid: d.qid, v: d.v, pid: pid, g: g }, it.t);
    return true;
  }
  if (it.op === "diff") {
    const row = S.sel === null ? null : findRow(S, S.sel);
    if (!row || !row.near) {
      say(S, "The selected candidate is not a near-duplicate of a positive: no diff to show.");
      return false;
    }
    if (S.diffOpen.has(row.pid)) S.diffOpen.delete(row.pid);
    else S.diffOpen.add(row.pid);
    draw(S);
    return false;
  }
  if (it.op === "panel") {
    send(S, { op: "panel", what: it.what, qid: d.qid, v: d.v }, it.t);
    return true;
  }
  if (it.op === "nav") {
    send(S, { op: "nav", to: it.to, qid: d.qid, v: d.v }, it.t);
    return true;
  }
  send(S, { op: it.op, qid: d.qid, v: d.v }, it.t);
  return true;
}

function pump(S) {
  while (!S.pending && S.queue.length) {
    handle(S, S.queue.shift());
  }
  paintPending(S);
}

function enqueue(S, item) {
  item.t = performance.now();
  S.queue.push(item);
  pump(S);
}

// Keys typed into a text field, a dropdown or a slider belong to it, not to the review.
function typing(e) {
  const target = (e.composedPath && e.composedPath()[0]) || e.target;
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  if (target.isContentEditable || tag === "textarea" || tag === "select") return true;
  const role = (target.getAttribute && target.getAttribute("role")) || "";
  if (["combobox", "listbox", "option", "slider", "spinbutton", "textbox", "searchbox"].includes(role)) return true;
  if (tag === "input") {
    const type = (target.getAttribute("type") || "text").toLowerCase();
    return !["checkbox", "radio", "button", "submit", "reset", "range", "file"].includes(type);
  }
  return false;
}

function onKey(S, e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (typing(e)) {
    // Esc leaves a field the review keys focused (search, note, queue): the keys act on the review again
    const target = (e.composedPath && e.composedPath()[0]) || e.target;
    if (e.key === "Escape" && target && target.blur && S.root && S.root.isConnected) target.blur();
    return;
  }
  if (!S.root || !S.root.isConnected) return;
  let item = null;
  const key = (e.key || "").length === 1 ? e.key.toLowerCase() : e.key;
  if (FOCUS_KEYS[key] && (!e.shiftKey || key === "/")) {
    e.preventDefault();
    focusField(FOCUS_KEYS[key], 0);
    return;
  }
  if (e.shiftKey && GRADE_CODES[e.code] !== undefined) item = { op: "grade", g: GRADE_CODES[e.code] };
  else if (e.key === "A" && e.shiftKey) item = { op: "rest" };
  else if (!e.shiftKey && KEY_OPS[e.key]) item = Object.assign({}, KEY_OPS[e.key]);
  else if (!e.shiftKey && e.key >= "1" && e.key <= "9") item = { op: "select", index: Number(e.key) - 1 };
  else if (e.key === "ArrowDown") item = { op: "move", delta: 1 };
  else if (e.key === "ArrowUp") item = { op: "move", delta: -1 };
  if (!item) return;
  e.preventDefault();
  enqueue(S, item);
}

// ---------------------------------------------------------------------------- drawing

function drawHead(S, root) {
  const d = S.data;
  const head = root.appendChild(el("div", "rv-head"));
  head.appendChild(el("span", "rv-pos", `Query ${d.nav.label}`));
  head.appendChild(el("span", "rv-help", `id ${d.qid}`));
  const how = d.reviewed;
  head.appendChild(
    el("span", "rv-badge " + (how ? "b-" + how : "b-todo"),
       how === "done" ? "reviewed: done" : how === "complete" ? "reviewed: every candidate decided" : "not reviewed"),
  );
  if (d.flag) {
    head.appendChild(el("span", "rv-badge b-flag", `flagged: ${d.flag_label}${d.flag_reason ? " — " + d.flag_reason : ""}`));
  }
  head.appendChild(el("span", "rv-progress", d.progress));
  if (d.queue) {
    const qline = root.appendChild(el("div", "rv-queue"));
    qline.dataset.testid = "rv-queue";
    qline.appendChild(el("span", "rv-label", "Queue"));
    qline.appendChild(el("span", "rv-qname", `${d.queue.label} · ${d.queue.pos}`));
    if (d.queue.why) qline.appendChild(el("span", "rv-why", `why: ${d.queue.why}`));
  }
  if (d.note) {
    const nline = root.appendChild(el("div", "rv-note"));
    nline.appendChild(el("span", "rv-label", "Note"));
    nline.appendChild(el("span", null, d.note));
  }
}

function drawQuery(S, root) {
  const d = S.data;
  const box = root.appendChild(el("div", "rv-box"));
  const line = box.appendChild(el("div"));
  line.appendChild(el("span", "rv-label", "Query"));
  marked(line.appendChild(el("span", "rv-query")), d.query.text, d.query.hl);
  if (d.query.meta.length) {
    const m = box.appendChild(el("div"));
    for (const [k, v] of d.query.meta) m.appendChild(el("span", "rv-chip", `${k}: ${v}`));
  }
  for (const p of d.positives) {
    const div = box.appendChild(el("div", "rv-positive"));
    div.appendChild(el("span", "rv-label", p.origin === "data" ? "Positive" : `Positive (${p.origin})`));
    marked(div.appendChild(el("span")), p.text, p.hl);
    const chips = d.columns.map((c, i) => [c, p.meta[i]]).filter(([, v]) => v !== null && v !== undefined);
    for (const [c, v] of chips) div.appendChild(el("span", "rv-chip", `${c}: ${v}`)).style.marginLeft = "6px";
    if (p.teacher !== null && p.teacher !== undefined) div.appendChild(el("span", "rv-chip", `teacher ${num(p.teacher, 3)}`));
  }
}

function drawHelp(S, root) {
  const help = root.appendChild(el("div", "rv-help"));
  const keys = [
    ["1-9 / ↑↓", "select"], ["A", "accept"], ["X", "reject"], ["P", "positive"], ["Shift+0-3", "grade"],
    ["Shift+A", "accept the rest"], ["D", "done → next"], ["U", "undo"], ["J / K", "next / previous"],
    ["N", "next in queue"], ["/", "search the corpus"], ["C", "note"], ["F", "flag"], ["V", "diff"],
    ["Q", "queue"], ["S", "summary"],
  ];
  keys.forEach(([k, what], i) => {
    if (i) help.appendChild(document.createTextNode(" · "));
    help.appendChild(el("kbd", null, k));
    help.appendChild(document.createTextNode(" " + what));
  });
  help.appendChild(document.createTextNode("   Highlights: "));
  help.appendChild(el("mark", "h1", "in the query"));
  help.appendChild(document.createTextNode(" "));
  help.appendChild(el("mark", "h2", "in the positive"));
  S.pendingEl = root.appendChild(el("div", "rv-pending"));
  S.noteEl = root.appendChild(el("div", "rv-local", S.localNote));
}

function decisionButtons(S, td, r) {
  if (r.section === "search") {
    for (const [dec, label] of [["accept", "+ Negative"], ["positive", "+ Positive"]]) {
      if (dec === "accept" && !r.can_accept) continue;
      const b = td.appendChild(el("button", r.decision === dec ? "on" : "", label));
      b.type = "button";
      b.title = dec === "accept" ? "Add this passage to the query as a negative (A)" : "Add it as an extra positive (P)";
      b.dataset.act = dec;
      b.addEventListener("click", (ev) => {
        ev.stopPropagation();
        if (r.decision !== dec) enqueue(S, { op: "decide", pid: r.pid, d: dec });
      });
    }
    return;
  }
  const buttons = [["accept", "Accept", "✓"], ["reject", "Reject", "✗"], ["positive", "Positive", "★"]];
  for (const [dec, label, icon] of buttons) {
    if (dec === "accept" && !r.can_accept) continue;
    const b = td.appendChild(el("button", r.decision === dec ? "on" : "", `${icon} ${label}`));
    b.type = "button";
    b.title = `${label} this candidate`;
    b.dataset.act = dec;
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      if (r.decision !== dec) enqueue(S, { op: "decide", pid: r.pid, d: dec });
    });
  }
  if (r.decision) {
    const b = td.appendChild(el("button", "", "↺"));
    b.type = "button";
    b.title = "Clear the decision on this candidate";
    b.dataset.act = "clear";
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      enqueue(S, { op: "decide", pid: r.pid, d: null });
    });
  }
  const grades = td.appendChild(el("div", "grades"));
  grades.appendChild(el("span", "rv-help", "grade "));
  for (const g of [0, 1, 2, 3]) {
    const b = grades.appendChild(el("button", r.grade === g ? "g on" : "g", String(g)));
    b.type = "button";
    b.title = `Grade ${g}: ${S.data.grade_words[String(g)]} (Shift+${g}; again clears)`;
    b.dataset.grade = String(g);
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      enqueue(S, { op: "grade", pid: r.pid, g: g });
    });
  }
}

function drawDiff(parent, near) {
  const box = parent.appendChild(el("div", "diffbox"));
  box.dataset.testid = "rv-diff";
  const left = box.appendChild(el("div"));
  left.appendChild(el("div", "rv-label", "Positive (words missing from the candidate)"));
  marked(left.appendChild(el("div", "dl")), near.positive, near.left);
  const right = box.appendChild(el("div"));
  right.appendChild(el("div", "rv-label", `Candidate (words not in the positive) · ${Math.round(near.ratio * 100)}% alike`));
  marked(right.appendChild(el("div", "dr")), near.candidate, near.right);
  return box;
}

function drawTable(S, parent, rows, sections, keyBase) {
  const d = S.data;
  const t = parent.appendChild(el("table", "rv-t"));
  t.dataset.testid = "rv-table";
  const cols = [["#", 34], ["Key", 30], ["BM25", 44], ["Dense", 46], ["Sim q", 48], ["Sim pos", 54]];
  if (d.teacher) cols.push(["Teacher", 56]);
  cols.push(["Grade", 42]);
  for (const c of d.columns) cols.push([c, 78]);
  cols.push(["Candidate passage", null], ["Decision", 66], ["", 206]);
  const cg = t.appendChild(el("colgroup"));
  for (const [, w] of cols) {
    const c = cg.appendChild(el("col"));
    if (w) c.style.width = w + "px";
  }
  const hr = t.appendChild(el("thead")).appendChild(el("tr"));
  const titles = {
    "#": "rank after fusion", "Key": "keyboard: press this number to select the row", BM25: "BM25 rank (before fusion)",
    Dense: "dense-retrieval rank (before fusion)", "Sim q": "cosine similarity to the query",
    "Sim pos": "cosine similarity to the positive", Teacher: "the teacher's raw score",
    Grade: "your graded relevance: 0 not relevant, 1 related, 2 partly answers, 3 answers fully (Shift+0-3)",
  };
  for (const [name] of cols) {
    const th = hr.appendChild(el("th", null, name));
    if (titles[name]) th.title = titles[name];
  }
  const body = t.appendChild(el("tbody"));
  let key = keyBase;
  let section = null;
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      if (sections[section]) {
        const st = body.appendChild(el("tr", "sect"));
        const td = st.appendChild(el("td", null, sections[section]));
        td.colSpan = cols.length;
      }
    }
    const tr = body.appendChild(el("tr", "row" + (r.decision ? " d-" + r.decision : "")));
    tr.dataset.pid = String(r.pid);
    tr.dataset.section = r.section;
    tr.dataset.decision = r.decision || "";
    tr.appendChild(el("td", "n", r.rank === null ? "–" : "#" + r.rank));
    key += r.section !== "filtered" ? 1 : 0;
    tr.appendChild(el("td", "n", r.section !== "filtered" && key <= 9 ? String(key) : ""));
    tr.appendChild(el("td", "n", r.bm25 === null ? "–" : r.bm25));
    tr.appendChild(el("td", "n", r.dense === null ? "–" : r.dense));
    tr.appendChild(el("td", "n", num(r.simq, 3)));
    tr.appendChild(el("td", "n", num(r.simp, 3)));
    if (d.teacher) tr.appendChild(el("td", "n", num(r.teacher, 3)));
    const gtd = tr.appendChild(el("td", "n grade", r.grade === null || r.grade === undefined ? "–" : String(r.grade)));
    if (r.grade !== null && r.grade !== undefined) gtd.title = d.grade_words[String(r.grade)];
    d.columns.forEach((c, i) => {
      const v = r.meta[i];
      const td = tr.appendChild(el("td", "m" + (r.diff[i] ? " diff" : ""), v === null ? "–" : v));
      td.title = r.diff[i] ? `${c}: ${v} (the query's is different)` : `${c}: ${v === null ? "none" : v}`;
    });
    const txt = tr.appendChild(el("td", "txt"));
    marked(txt.appendChild(el("div", "clamp")), r.text, r.hl);
    const src = [r.source];
    if (r.section !== "mined" || r.status !== "selected") src.push(r.status_word);
    if (r.own) src.push("this is the query's own positive: never a negative");
    txt.appendChild(el("div", "src", src.join(" · ")));
    if (r.why) txt.appendChild(el("div", "why", `in the queue: ${r.why}`));
    if (r.near) {
      const open = S.diffOpen.has(r.pid);
      const b = txt.appendChild(el("button", "difft", open ? "▾ hide the diff with the positive (V)" : "▸ near-duplicate of the positive: show the diff (V)"));
      b.type = "button";
      b.addEventListener("click", (ev) => {
        ev.stopPropagation();
        if (S.diffOpen.has(r.pid)) S.diffOpen.delete(r.pid);
        else S.diffOpen.add(r.pid);
        draw(S);
      });
      if (open) drawDiff(txt, Object.assign({ candidate: r.text }, r.near));
    }
    tr.appendChild(el("td", "dec " + (r.decision || ""), r.decision ? DECISION_WORDS[r.decision] : "undecided"));
    decisionButtons(S, tr.appendChild(el("td", "acts")), r);
    tr.addEventListener("click", () => enqueue(S, { op: "pick", pid: r.pid }));
  }
  return t;
}

function drawTops(S, root) {
  const d = S.data;
  const tops = d.tops;
  if (!tops.bm25.length && !tops.dense.length) return;
  const det = root.appendChild(el("details"));
  det.open = S.openTops;
  det.addEventListener("toggle", () => { S.openTops = det.open; });
  det.appendChild(el("summary", null,
    `What each retriever ranked on top before fusion (top ${tops.k}, all candidates of the run; ` +
    `${tops.overlap} found by both, in bold)`));
  const grid = det.appendChild(el("div", "tops"));
  for (const [name, title] of [["bm25", "BM25 alone"], ["dense", "Dense alone"]]) {
    const col = grid.appendChild(el("div"));
    col.dataset.retriever = name;
    col.appendChild(el("div", "rv-label", `${title} (${tops[name].length})`));
    if (!tops[name].length) col.appendChild(el("div", "rv-help", "not used by this mining run"));
    const ol = col.appendChild(el("ol"));
    for (const it of tops[name]) {
      const li = ol.appendChild(el("li", it.both ? "both" : ""));
      li.appendChild(el("span", "r", "#" + it.rank));
      const st = it.status === "selected" ? "sel" : it.status === "kept" ? "" : "flt";
      li.appendChild(el("span", "st " + st, `[${it.decision ? DECISION_WORDS[it.decision] : it.status_word}] `));
      const meta = it.meta.filter((v) => v !== null).join(" ");
      if (meta) li.appendChild(el("span", "rv-chip", meta));
      li.appendChild(document.createTextNode(it.text));
      li.title = it.text;
    }
  }
}

function draw(S) {
  const d = S.data;
  const root = S.root;
  root.replaceChildren();
  root.dataset.qid = String(d.qid);
  root.dataset.version = String(d.v);
  root.dataset.ack = String(d.ack);
  drawHead(S, root);
  drawQuery(S, root);
  drawHelp(S, root);
  const main = d.rows.filter((r) => r.section !== "filtered" && r.section !== "search");
  const filtered = d.rows.filter((r) => r.section === "filtered");
  const c = d.counts;
  root.appendChild(el("div", "rv-help",
    `${c.shown} candidates · ${c.accept} accepted · ${c.reject} rejected · ${c.positive} marked positive · ` +
    `${c.undecided} undecided (undecided ones keep the automatic selection in the export)`));
  if (main.length) {
    const first = main.filter((r) => r.section !== "kept");
    const kept = main.filter((r) => r.section === "kept");
    drawTable(S, root, first, { mined: null, given: "Given by the data or generated by an LLM" }, 0);
    if (kept.length) {
      // many rows: the browser lays them out only when they scroll into view
      const lazy = root.appendChild(el("div", "lazy"));
      lazy.appendChild(el("div", "rv-label", `Survivors that were not selected (${kept.length})`));
      drawTable(S, lazy, kept, {}, first.length);
    }
  } else {
    root.appendChild(el("div", "rv-help", "No candidate to review for this query in this run."));
  }
  if (filtered.length) {
    const det = root.appendChild(el("details"));
    det.open = S.openFiltered;
    det.addEventListener("toggle", () => {
      S.openFiltered = det.open;
    });
    det.appendChild(el("summary", null, `Removed by the false-negative filters (${filtered.length})`));
    drawTable(S, det, filtered, {}, main.length);
  }
  const hits = d.rows.filter((r) => r.section === "search");
  if (d.search) {
    const box = root.appendChild(el("div", "rv-search"));
    box.dataset.testid = "rv-search";
    box.appendChild(el("div", "rv-label",
      `Corpus search “${d.search.text}”: ${d.search.n} hits · select one, A adds it as a negative, P as an extra positive`));
    if (hits.length) drawTable(S, box, hits, {}, main.filter((r) => r.section !== "search").length);
  }
  drawTops(S, root);
  paintSelection(S, false);
  paintPending(S);
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let S = parentElement.__review;
  if (!S) {
    S = parentElement.__review = {
      queue: [], pending: null, seq: 0, sel: null, data: null, timer: null, lat: [],
      openFiltered: false, openTops: true, localNote: "", diffOpen: new Set(),
    };
    S.root = parentElement.appendChild(el("div", "rv"));
    S.root.dataset.testid = "review-card";
    S.keyHandler = (e) => onKey(S, e);
    document.addEventListener("keydown", S.keyHandler);
    window.__embcoreReview = S;
  }
  S.setTrigger = setTriggerValue;
  const prev = S.data;
  S.data = data;
  S.seq = Math.max(S.seq, data.ack);
  let acked = false;
  if (S.pending && data.ack >= S.pending.seq) {
    acked = true;
    clearTimeout(S.timer);
    S.lastOp = S.pending.op;
    if (data.refused >= S.pending.seq && S.queue.length) {
      // the page the reviewer typed against was out of date: look again before anything else applies
      S.localNote = `${S.queue.length} key${S.queue.length > 1 ? "s" : ""} typed after the refused one dropped.`;
      S.queue = [];
    }
    S.pending = null;
  }
  const qChanged = !prev || prev.qid !== data.qid;
  if (qChanged) {
    S.localNote = "";
    S.diffOpen = new Set();
  }
  if (qChanged || data.select_forced || !findRow(S, S.sel)) S.sel = data.select;
  const arrived = performance.now();
  draw(S);
  const drawn = performance.now();
  if (qChanged && prev) {
    const main = document.querySelector('[data-testid="stMain"]');
    if (main) main.scrollTo(0, 0);
    window.scrollTo(0, 0);
  }
  if (acked && S.pendingT0 !== undefined) {
    // key press -> next frame after drawing; split into queue wait, round trip (server + transfer), drawing
    const t0 = S.pendingT0;
    const sent = S.sentAt;
    const op = S.lastOp;
    requestAnimationFrame(() => S.lat.push({
      op: op, ms: performance.now() - t0, queued: sent - t0, roundtrip: arrived - sent, draw: drawn - arrived,
      handler: data.handler_ms || 0, script: data.server_ms || 0,
    }));
  }
  pump(S);
  if (data.focus === "reason") focusField('input[aria-label^="Reason"]', 30);
  return () => {
    document.removeEventListener("keydown", S.keyHandler);
    clearTimeout(S.timer);
    delete parentElement.__review;
    if (window.__embcoreReview === S) delete window.__embcoreReview;
  };
}
