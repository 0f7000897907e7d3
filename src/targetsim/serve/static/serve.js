// targetsim serve: the what-if page's script.
// Every number comes from the server; this script reads the controls, asks for a what-if,
// polls its job and shows the result. Names from the data are only ever set with
// textContent or setAttribute, never as markup.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const LANG = document.body.dataset.lang || "en";
  const CUR = document.body.dataset.currency || "$";
  const MULTS = ["lead_volume", "win_rate", "deal_size", "cycle_length"];
  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 150;
  const DEBOUNCE_MS = 200;

  let plan = null;
  let currentJob = null;
  let pollTimer = null;
  let debounceTimer = null;
  let lastResult = null;
  let writeJob = null;
  let failures = 0;

  // ---------------------------------------------------------------- formatting
  const nf = (digits) => new Intl.NumberFormat(LANG, {
    minimumFractionDigits: digits, maximumFractionDigits: digits });
  function money(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e6) return CUR + nf(a >= 1e8 ? 0 : a >= 1e7 ? 1 : 2).format(v / 1e6) + "M";
    if (a >= 1e3) return CUR + nf(a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2).format(v / 1e3) + "k";
    return CUR + nf(0).format(v);
  }
  function pct(p) {
    if (p === null || p === undefined || !isFinite(p)) return "–";
    return nf(0).format(100 * p) + "%";
  }
  function growth(g) {
    if (g === null || g === undefined || !isFinite(g)) return "–";
    const x = Math.round(100 * g);
    return (x > 0 ? "+" : x < 0 ? "−" : "") + nf(0).format(Math.abs(x)) + "%";
  }
  function band(lo, hi) { return money(lo) + " – " + money(hi); }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function cell(row, text, value) {
    const td = el("td", text);
    if (value !== undefined && value !== null) td.setAttribute("data-value", String(value));
    row.appendChild(td);
    return td;
  }
  function setText(id, text, value) {
    const e = $(id);
    e.textContent = text;
    if (value !== undefined) e.setAttribute("data-value", value === null ? "" : String(value));
  }

  // ---------------------------------------------------------------- controls
  function raw(input) { return input.value.trim(); }

  function collect() {
    const body = {
      name: $("name").value,
      probability: (() => {
        const t = raw($("probability-num")).replace(",", ".");
        const x = Number(t);
        return t !== "" && isFinite(x) ? x / 100 : t;
      })(),
      company_target: raw($("company-target-input")),
      market: {},
      segments: {},
      capacity: null,
    };
    for (const key of MULTS) body.market[key] = raw($("m-" + key + "-num"));
    for (const input of document.querySelectorAll(".seg-mult")) {
      const v = raw(input);
      if (v === "") continue;
      const seg = input.getAttribute("data-seg");
      (body.segments[seg] = body.segments[seg] || {})[input.dataset.key] = v;
    }
    if ($("cap-on").checked) {
      const reps = {};
      for (const input of document.querySelectorAll(".cap-reps")) {
        reps[input.getAttribute("data-seg")] = raw(input);
      }
      body.capacity = {
        reps,
        max_open_deals_per_rep: raw($("cap-deals")),
        ramp_months: raw($("cap-ramp")),
        attrition_per_year: raw($("cap-attrition")),
        patience_days: raw($("cap-patience")),
        hires: [...document.querySelectorAll("#hires .hire")].map((li) => ({
          month: li.querySelector(".hire-month").value,
          segment: li.querySelector(".hire-segment").value,
          count: raw(li.querySelector(".hire-count")),
        })),
      };
    }
    return body;
  }

  function fmt(v) {
    return v === null || v === undefined ? "" : String(Number(v).toFixed(2));
  }

  function addHire(h) {
    const li = $("hire-row").content.firstElementChild.cloneNode(true);
    if (h) {
      li.querySelector(".hire-month").value = h.month;
      li.querySelector(".hire-segment").value = h.segment;
      li.querySelector(".hire-count").value = String(h.count);
    }
    li.querySelector(".hire-remove").addEventListener("click", () => { li.remove(); schedule(); });
    for (const c of li.querySelectorAll("select, input")) {
      c.addEventListener("input", schedule);
      c.addEventListener("change", schedule);
    }
    $("hires").appendChild(li);
  }

  function fillCapacity(cap) {
    for (const input of document.querySelectorAll(".cap-reps")) {
      const v = cap.reps[input.getAttribute("data-seg")];
      input.value = v === undefined ? "" : String(v);
    }
    $("cap-deals").value = String(cap.max_open_deals_per_rep);
    $("cap-ramp").value = String(cap.ramp_months);
    $("cap-attrition").value = String(cap.attrition_per_year);
    $("cap-patience").value = cap.patience_days === null ? "" : String(cap.patience_days);
    $("hires").replaceChildren();
    for (const h of cap.hires || []) addHire(h);
  }

  function applyControls(c) {
    if (c.name !== undefined && c.name !== null) $("name").value = c.name;
    for (const key of MULTS) {
      $("m-" + key).value = String(c.market[key]);
      $("m-" + key + "-num").value = fmt(c.market[key]);
    }
    for (const input of document.querySelectorAll(".seg-mult")) {
      const over = c.segments[input.getAttribute("data-seg")] || {};
      const v = over[input.dataset.key];
      input.value = v === undefined || v === null ? "" : String(v);
    }
    $("cap-on").checked = !!c.capacity;
    $("capacity").hidden = !c.capacity;
    if (c.capacity) fillCapacity(c.capacity);
    if (c.probability !== undefined) {
      const p = Math.round(100 * c.probability);
      $("probability").value = String(p);
      $("probability-num").value = String(p);
    }
    if (c.company_target !== undefined) {
      $("company-target-input").value = c.company_target ? String(c.company_target) : "";
    }
  }

  function wire() {
    for (const key of MULTS) {
      const range = $("m-" + key), box = $("m-" + key + "-num");
      range.addEventListener("input", () => { box.value = fmt(range.value); schedule(); });
      box.addEventListener("input", () => {
        const x = Number(box.value.replace(",", "."));
        if (box.value.trim() !== "" && isFinite(x)) range.value = String(x);
        schedule();
      });
    }
    const pr = $("probability"), pb = $("probability-num");
    pr.addEventListener("input", () => { pb.value = pr.value; schedule(); });
    pb.addEventListener("input", () => {
      const x = Number(pb.value.replace(",", "."));
      if (pb.value.trim() !== "" && isFinite(x)) pr.value = String(x);
      schedule();
    });
    for (const id of ["name", "company-target-input", "cap-deals", "cap-ramp",
                      "cap-attrition", "cap-patience"]) {
      $(id).addEventListener("input", schedule);
    }
    for (const input of document.querySelectorAll(".seg-mult, .cap-reps")) {
      input.addEventListener("input", schedule);
    }
    $("cap-on").addEventListener("change", () => {
      const on = $("cap-on").checked;
      $("capacity").hidden = !on;
      if (on && [...document.querySelectorAll(".cap-reps")].every((i) => i.value === "")) {
        fillCapacity(plan.default_capacity);
      }
      schedule();
    });
    $("add-hire").addEventListener("click", () => {
      addHire(null);
      schedule();
    });
    $("start-from").addEventListener("change", () => {
      const name = $("start-from").value;
      if (name && plan.scenarios[name]) {
        applyControls(plan.scenarios[name]);
        $("name").value = name === "baseline" ? "what-if" : name + "-what-if";
        schedule();
      }
    });
    $("fan-select").addEventListener("change", () => { if (lastResult) drawFan(lastResult); });
    $("recalculate").addEventListener("click", () => submit());
    $("save-scenario").addEventListener("click", saveScenario);
    $("write-plan").addEventListener("click", writePlan);
  }

  // ---------------------------------------------------------------- messages
  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
    for (const e of document.querySelectorAll(".invalid")) e.classList.remove("invalid");
  }
  function showError(message, field) {
    $("error").textContent = message;
    $("error").hidden = false;
    for (const e of document.querySelectorAll(".invalid")) e.classList.remove("invalid");
    if (field) {
      for (const input of document.querySelectorAll("[data-path]")) {
        if (input.getAttribute("data-path") === field) input.classList.add("invalid");
      }
      if (field.startsWith("capacity.hires.")) {
        const i = Number(field.split(".")[2]);
        const li = document.querySelectorAll("#hires .hire")[i];
        if (li) li.classList.add("invalid");
      }
    }
  }
  function status(text, done, total, busy) {
    $("status-text").textContent = text;
    const bar = $("progress");
    if (total) { bar.max = total; bar.value = done; } else if (busy) {
      bar.removeAttribute("value");
    } else { bar.max = 1; bar.value = 1; }
    document.body.classList.toggle("busy", !!busy);
    $("status").setAttribute("data-state", busy ? "busy" : "idle");
  }

  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = { error: "the server answered " + res.status }; }
    return { ok: res.ok, status: res.status, data };
  }

  // ---------------------------------------------------------------- what-if
  function schedule() {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(submit, DEBOUNCE_MS);
  }

  async function submit() {
    clearTimeout(debounceTimer);
    $("notice").hidden = true;
    let r;
    try {
      r = await post("/api/whatif", collect());
    } catch (e) {
      status("the server is not answering (was it stopped?)", 0, 0, false);
      return;
    }
    if (!r.ok) {
      showError(r.data.error || "bad request", r.data.field);
      status("waiting for a valid value", 0, 0, false);
      return;
    }
    clearError();
    currentJob = r.data.job;
    status("queued", 0, 0, true);
    clearTimeout(pollTimer);
    poll(currentJob);
  }

  async function poll(id) {
    if (id !== currentJob) return;
    let snap;
    try {
      const res = await fetch("/api/jobs/" + encodeURIComponent(id), { cache: "no-store" });
      snap = await res.json();
      if (!res.ok) throw new Error(snap.error || String(res.status));
      failures = 0;
    } catch (e) {
      failures += 1;
      status("the server is not answering (was it stopped?)", 0, 0, false);
      if (failures < 20 && id === currentJob) pollTimer = setTimeout(() => poll(id), 1000);
      return;
    }
    if (id !== currentJob) return;
    if (snap.result) render(snap.result);
    if (snap.state === "done") {
      const secs = (x) => (x === null || x === undefined ? "?" : x.toFixed(1)) + " s";
      const levers = Array.isArray(snap.result.levers) && snap.result.levers.length &&
        snap.seconds !== snap.targets_seconds ? " · levers in " + secs(snap.seconds) : "";
      status("up to date · " + snap.result.engine + " engine, " + snap.result.draws +
             " draws · targets in " + secs(snap.targets_seconds) + levers, 0, 0, false);
      return;
    }
    if (snap.state === "error") {
      showError(snap.message, null);
      status("failed", 0, 0, false);
      return;
    }
    if (snap.state === "superseded") {
      $("notice-text").textContent = "Another tab or window asked for a newer what-if, " +
        "so this one was dropped.";
      $("notice").hidden = false;
      status("superseded", 0, 0, false);
      return;
    }
    const what = snap.state === "queued" ? "queued behind another calculation" : snap.stage;
    const extra = snap.total ? " " + snap.done + "/" + snap.total + " draws" : "";
    const sims = snap.stage === "levers" && snap.simulations
      ? " (" + snap.simulations + " re-simulations done)" : "";
    status(what + extra + sims, snap.done, snap.total, true);
    pollTimer = setTimeout(() => poll(id), POLL_MS);
  }

  // ---------------------------------------------------------------- results
  function render(r) {
    lastResult = r;
    const c = r.company.bookings;
    setText("company-target", money(c.target), c.target);
    setText("company-probability", pct(c.probability), c.probability);
    const b = $("company-band");
    b.textContent = band(c.p10, c.p90);
    b.setAttribute("data-p10", String(c.p10));
    b.setAttribute("data-p50", String(c.p50));
    b.setAttribute("data-p90", String(c.p90));
    setText("company-last-year", money(c.last_year));
    setText("company-growth", growth(c.growth));
    const d = r.company.deals_won;
    setText("company-deals", nf(0).format(d.target) + " (" + pct(d.probability) + ")", d.target);

    renderBoard(r);
    drawFan(r);

    const seg = $("segments-table").tBodies[0];
    seg.replaceChildren();
    for (const s of r.segments) {
      const tr = el("tr");
      tr.setAttribute("data-name", s.name);
      const th = el("th", s.name, "name");
      tr.appendChild(th);
      cell(tr, money(s.target), s.target).className = "t-target";
      cell(tr, pct(s.probability), s.probability).className = "t-prob";
      cell(tr, band(s.p10, s.p90));
      cell(tr, money(s.last_year));
      cell(tr, growth(s.growth));
      seg.appendChild(tr);
    }
    const q = $("quarters-table").tBodies[0];
    q.replaceChildren();
    for (const s of r.company.quarters) {
      const tr = el("tr");
      tr.appendChild(el("th", s.period));
      cell(tr, money(s.target), s.target);
      cell(tr, pct(s.probability), s.probability);
      cell(tr, band(s.p10, s.p90));
      q.appendChild(tr);
    }
    const qt = $("quotas-table").tBodies[0];
    qt.replaceChildren();
    if (!r.quotas) {
      $("quotas-summary").textContent = "The data names no owners: no per-rep quotas.";
    } else {
      const qs = r.quotas;
      $("quotas-summary").textContent = "The company number " + money(qs.company_target) +
        " split so that every rep reaches their quota with the same probability " +
        pct(qs.common_probability) + " (not divided by headcount); about " +
        pct(qs.expected_share_reaching) + " of reps reach theirs in a typical year.";
      for (const o of qs.rows) {
        const tr = el("tr");
        tr.setAttribute("data-name", o.name);
        tr.appendChild(el("th", o.name, "name"));
        cell(tr, money(o.quota), o.quota);
        cell(tr, pct(o.probability), o.probability);
        cell(tr, band(o.p10, o.p90));
        cell(tr, money(o.last_year));
        cell(tr, growth(o.growth));
        cell(tr, pct(o.share));
        qt.appendChild(tr);
      }
    }
  }

  const LEVER_NAMES = { lead_volume: "Leads", win_rate: "Win rate", hires: "Hires",
                        none: "No change" };

  function renderBoard(r) {
    const list = $("levers");
    list.replaceChildren();
    if (!r.board) {
      setText("board-probability", "–");
      $("board-text").textContent = "Give the board's number to see its probability and " +
        "the levers that would lift it.";
      return;
    }
    const bd = r.board;
    setText("board-probability", pct(bd.probability), bd.probability);
    $("board-text").textContent = "probability of reaching " + money(bd.target) +
      (bd.reached ? " — at least the " + pct(bd.desired) + " asked: no change needed."
        : " — below the " + pct(bd.desired) + " asked. What would lift it to " +
          pct(bd.desired) + ", one lever at a time:");
    if (bd.reached) return;
    if (r.levers === "pending" || r.levers === null) {
      list.appendChild(el("li", "re-simulating the levers…", "pending"));
      return;
    }
    for (const lv of r.levers) {
      const li = el("li");
      li.setAttribute("data-lever", lv.lever);
      li.appendChild(el("b", (LEVER_NAMES[lv.lever] || lv.lever) + ": "));
      li.appendChild(document.createTextNode(lv.change + " (probability " +
        pct(lv.achieved_probability) + ")"));
      list.appendChild(li);
    }
    if (!r.capacity) {
      list.appendChild(el("li", "Hires: without a capacity limit headcount does not bind; " +
        "switch on capacity to size hires.", "help"));
    }
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function niceStep(raw) {
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  function drawFan(r) {
    const which = $("fan-select").value;
    const series = which ? r.fan.segments[which] : r.fan.total;
    const holder = $("fan");
    holder.replaceChildren();
    if (!series) return;
    const target = which ? (r.segments.find((s) => s.name === which) || {}).target
      : r.company.bookings.target;
    const last = which ? r.last_year.segments[which] : r.last_year.total;
    const board = !which && r.board ? r.board.target : null;
    const W = 640, H = 300, L = 70, R = 110, T = 16, B = 30;
    const n = r.fan.months.length;
    const vals = [...series.p90, target || 0, last || 0, board || 0].filter(isFinite);
    const step = niceStep(Math.max(...vals, 1) * 1.05 / 4);
    const top = step * Math.ceil(Math.max(...vals, 1) * 1.05 / step);
    const x = (i) => L + (W - L - R) * (i + 1) / n;
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "fan-chart", role: "img" });
    s.appendChild(svg("title", {}, "Cumulative bookings" + (which ? " of " + which : "")));
    for (let k = 0; k * step <= top + 1e-9; k++) {
      const v = k * step;
      s.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      s.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" },
                        money(v)));
    }
    const monthFmt = new Intl.DateTimeFormat(LANG, { month: "short" });
    r.fan.months.forEach((m, i) => {
      const [yy, mm] = m.split("-").map(Number);
      s.appendChild(svg("text", { x: x(i), y: H - 10, "text-anchor": "middle", class: "tick" },
                        monthFmt.format(new Date(Date.UTC(yy, mm - 1, 15)))));
    });
    const up = [[L, y(0)], ...series.p90.map((v, i) => [x(i), y(v)])];
    const lo = series.p10.map((v, i) => [x(i), y(v)]).reverse().concat([[L, y(0)]]);
    s.appendChild(svg("polygon", { points: up.concat(lo).map((p) => p.join(",")).join(" "),
                                   class: "band" }));
    const med = [[L, y(0)], ...series.p50.map((v, i) => [x(i), y(v)])];
    s.appendChild(svg("polyline", { points: med.map((p) => p.join(",")).join(" "),
                                    class: "median" }));
    const labels = [];
    const hline = (v, cls, label) => {
      if (v === null || v === undefined || !isFinite(v)) return;
      s.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: cls }));
      labels.push({ y: y(v) + 4, cls, text: label + " " + money(v) });
    };
    hline(last, "last-year", "last year");
    hline(target, "target", "target");
    hline(board, "board", "board");
    // Labels of nearby lines are pushed apart so each stays readable.
    labels.sort((a, b) => a.y - b.y);
    for (let i = 1; i < labels.length; i++) {
      labels[i].y = Math.max(labels[i].y, labels[i - 1].y + 13);
    }
    for (const lb of labels) {
      s.appendChild(svg("text", { x: W - R + 4, y: lb.y, class: "label " + lb.cls }, lb.text));
    }
    holder.appendChild(s);
  }

  // ---------------------------------------------------------------- keep it
  async function saveScenario() {
    const body = { ...collect(), file: $("file-name").value };
    const r = await post("/api/scenario", body).catch(() => null);
    if (!r) { showError("the server is not answering (was it stopped?)", null); return; }
    if (!r.ok) { showError(r.data.error, r.data.field); return; }
    clearError();
    $("action-result").textContent = "Scenario " + r.data.scenario + " saved to " + r.data.path;
    $("action-result").setAttribute("data-path", r.data.path);
    const a = $("download");
    a.href = URL.createObjectURL(new Blob([r.data.yaml], { type: "application/x-yaml" }));
    a.download = $("file-name").value.replace(/\.ya?ml$/i, "") + ".yaml";
    a.hidden = false;
  }

  async function writePlan() {
    const body = { ...collect(), file: $("file-name").value };
    const r = await post("/api/plan-dir", body).catch(() => null);
    if (!r) { showError("the server is not answering (was it stopped?)", null); return; }
    if (!r.ok) { showError(r.data.error, r.data.field); return; }
    clearError();
    writeJob = r.data.job;
    $("action-result").textContent = "writing " + r.data.out_dir + "…";
    pollWrite(writeJob);
  }

  async function pollWrite(id) {
    if (id !== writeJob) return;
    let snap;
    try {
      const res = await fetch("/api/jobs/" + encodeURIComponent(id), { cache: "no-store" });
      snap = await res.json();
    } catch (e) {
      $("action-result").textContent = "the server is not answering (was it stopped?)";
      return;
    }
    if (snap.state === "done") {
      $("action-result").textContent = "Plan directory written: " + snap.result.out_dir +
        " (" + snap.result.files.join(", ") + ")";
      $("action-result").setAttribute("data-path", snap.result.out_dir);
      return;
    }
    if (snap.state === "error") { showError(snap.message, null); return; }
    $("action-result").textContent = "writing the plan directory: " + snap.stage +
      (snap.total ? " " + snap.done + "/" + snap.total + " draws" : "") + "…";
    setTimeout(() => pollWrite(id), 250);
  }

  // ---------------------------------------------------------------- start
  async function start() {
    wire();
    try {
      const res = await fetch("/api/plan", { cache: "no-store" });
      plan = await res.json();
    } catch (e) {
      status("the server is not answering (was it stopped?)", 0, 0, false);
      return;
    }
    applyControls(plan.controls);
    submit();
  }

  start();
})();
