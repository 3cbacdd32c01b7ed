// tidewatch built-in UI: plain JavaScript and SVG, no dependencies, works offline.
// Severity thresholds and colours are read from the same Vega-Lite spec the Kibana objects
// embed (/ui/vega/swimlane.vl.json), so both views colour scores alike.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = {
  token: sessionStorage.getItem("tidewatch-token") || "",
  jobs: [],
  job: null,
  severity: { domain: [25, 50, 75], range: ["#8bc8fb", "#fdec25", "#fba740", "#fe5050"] },
  records: [],
  selected: null, // { label, field, value }
  influencer: null, // { field, value }: the anomalies table lists only what it influenced
  cell: null, // { lane, from, to }: the influencer panel lists only that swimlane cell's
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function color(score) {
  const { domain, range } = state.severity;
  let i = 0;
  while (i < domain.length && score >= domain[i]) i++;
  return range[i];
}

function scoreBadge(score) {
  if (score === null || score === undefined) return el("span", { class: "muted" }, "–");
  const s = el("span", { class: "score" }, Math.round(score).toString());
  s.style.background = color(score);
  return s;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "–";
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

function fmtNum(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return (Math.round(x * 100) / 100).toString();
}

function fmtLag(s) {
  if (typeof s !== "number" || !Number.isFinite(s)) return "–";
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function first(v) {
  return Array.isArray(v) ? v[0] : v;
}

// The split of a document as field=value pairs, like `tidewatch results` prints it.
function splits(d) {
  const out = [];
  for (const k of ["partition", "by", "over"]) {
    const f = d[k + "_field_name"], v = d[k + "_field_value"];
    if (f !== undefined && v !== undefined) out.push({ field: f, value: v });
  }
  return out;
}

function label(d) {
  const s = splits(d);
  return s.length ? s.map((p) => p.field + "=" + p.value).join(" ") : "(all)";
}

async function api(path) {
  const headers = {};
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const resp = await fetch(path, { headers });
  if (resp.status === 401) {
    $("#token-form").hidden = false;
    throw new Error("This server needs an API token: enter it above.");
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const reason = body && body.error ? body.error.reason : resp.statusText;
    throw new Error(reason);
  }
  return body;
}

// Reads every page of a results query (up to `max` documents).
async function results(kind, params, max) {
  const out = [];
  let next = null;
  do {
    const q = new URLSearchParams(params);
    q.set("size", String(Math.min(10000, max - out.length)));
    if (next) q.set("search_after", next);
    const page = await api(`/api/jobs/${encodeURIComponent(state.job.job_id)}/results/${kind}?${q}`);
    out.push(...page.results);
    next = page.next;
  } while (next && out.length < max);
  return out;
}

async function loadSeverity() {
  try {
    const spec = await (await fetch("/ui/vega/swimlane.vl.json")).json();
    const scale = spec.encoding.color.scale;
    if (Array.isArray(scale.domain) && Array.isArray(scale.range) && scale.range.length === scale.domain.length + 1) {
      state.severity = { domain: scale.domain, range: scale.range };
    }
  } catch (e) {
    // Keep the built-in defaults (the same values).
  }
  const names = ["warning", "minor", "major", "critical"];
  const legend = $("#legend");
  legend.textContent = "";
  state.severity.range.forEach((c, i) => {
    const lo = i === 0 ? 0 : state.severity.domain[i - 1];
    const item = el("span");
    const sw = el("i");
    sw.style.background = c;
    item.append(sw, `${names[i] || ""} ≥ ${lo}`);
    legend.append(item);
  });
}

async function loadJobs() {
  const msg = $("#jobs-message");
  try {
    const health = await (await fetch("/health")).json();
    $("#store").textContent = health.store || "";
    const body = await api("/api/jobs");
    state.jobs = body.jobs;
    msg.textContent = body.jobs.length ? "" : "No jobs loaded: start the server with --jobs DIR.";
    msg.className = "muted";
  } catch (e) {
    msg.textContent = e.message;
    msg.className = "error";
    return;
  }
  const tbody = $("#jobs tbody");
  tbody.textContent = "";
  for (const j of state.jobs) {
    const tr = el("tr", { "data-job": j.job_id });
    const td = (content, cls) => {
      const c = el("td", cls ? { class: cls } : {});
      if (content instanceof Node) c.append(content);
      else c.textContent = content;
      tr.append(c);
    };
    td(j.job_id);
    td(j.description || "");
    td(j.bucket_span);
    td(j.detectors.map((d) => d.detector_description || d.function).join("; "));
    const m = j.metrics;
    td(m ? `${j.state} · ${m.buckets_processed} buckets · lag ${fmtLag(m.lag_seconds)}` : j.state);
    td(fmtTime(j.latest_bucket_timestamp));
    td(scoreBadge(j.latest_anomaly_score));
    td(scoreBadge(j.recent ? j.recent.max_record_score : null));
    tr.addEventListener("click", () => selectJob(j.job_id));
    tbody.append(tr);
  }
  // Deep links: #job=ID and optionally &lane=field=value (a swimlane lane label).
  const hash = new URLSearchParams(location.hash.slice(1));
  const initial = state.jobs.find((j) => j.job_id === hash.get("job")) || state.jobs[0];
  const lane = laneFromLabel(hash.get("lane"));
  if (lane && /^\d+$/.test(hash.get("at") || "")) lane.focus = Number(hash.get("at"));
  if (initial) await selectJob(initial.job_id, lane);
}

// `country=DE host=a` back to its split pairs (values may not contain spaces here).
function laneFromLabel(text) {
  if (!text) return null;
  const split = text.split(" ").map((p) => {
    const i = p.indexOf("=");
    return i > 0 ? { field: p.slice(0, i), value: p.slice(i + 1) } : null;
  });
  return split.every(Boolean) && split.length ? { label: text, split } : null;
}

function setHash() {
  const h = new URLSearchParams({ job: state.job.job_id });
  if (state.selected) h.set("lane", state.selected.label);
  history.replaceState(null, "", "#" + h.toString());
}

function timeWindow() {
  const end = state.job.latest_bucket_timestamp;
  if (end === null || end === undefined) return null;
  const to = end + state.job.bucket_span_seconds * 1000;
  const span = Number($("#range").value);
  return { from: span > 0 ? to - span : null, to };
}

async function selectJob(id, lane) {
  state.job = state.jobs.find((j) => j.job_id === id);
  state.selected = lane || null;
  state.influencer = null;
  state.cell = null;
  setHash();
  for (const tr of document.querySelectorAll("#jobs tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.job === id);
  }
  $("#explorer").hidden = false;
  $("#single").hidden = !state.selected;
  $("#job-title").textContent = id;
  await refresh();
}

// Each refresh numbers itself; one overtaken by a later refresh (a click while the first
// page's results are still loading) draws nothing, so the swimlane is drawn once.
let refreshes = 0;

async function refresh() {
  const mine = ++refreshes;
  const win = timeWindow();
  const swim = $("#swimlane");
  swim.textContent = "";
  $("#anomalies tbody").textContent = "";
  $("#influencers").textContent = "";
  state.cell = null;
  if (!win) {
    swim.append(el("p", { class: "muted" }, "No results for this job yet."));
    return;
  }
  const params = { min_score: $("#min-score").value, to: String(win.to) };
  if (win.from !== null) params.from = String(win.from);
  try {
    const [records, buckets, top, influencers] = await Promise.all([
      results("records", params, 50000),
      results("buckets", { ...params, min_score: "0.001" }, 50000),
      results("records", { ...params, sort: "score" }, 50),
      results("influencers", params, 50000),
    ]);
    if (mine !== refreshes) return;
    state.records = records;
    state.top = top;
    state.influencerDocs = influencers;
    drawSwimlane(swim, win, records, buckets);
    drawInfluencers();
    drawTable();
    if (state.selected) await showSingle(state.selected);
  } catch (e) {
    if (mine === refreshes) swim.append(el("p", { class: "error" }, e.message));
  }
}

function tooltip(evt, text) {
  const tip = $("#tip");
  if (!text) {
    tip.hidden = true;
    return;
  }
  tip.textContent = text;
  tip.hidden = false;
  tip.style.left = evt.clientX + 12 + "px";
  tip.style.top = evt.clientY + 12 + "px";
}

// A cell spans whole buckets, wide enough that the window fits in about 120 columns.
function cellSpan(win, bucketMs) {
  const from = win.from !== null ? win.from : win.to - 120 * bucketMs;
  const n = Math.max(1, Math.ceil((win.to - from) / bucketMs / 120));
  return n * bucketMs;
}

function drawSwimlane(host, win, records, buckets) {
  const bucketMs = state.job.bucket_span_seconds * 1000;
  let from = win.from;
  if (from === null) {
    const times = buckets.map((b) => b.timestamp).concat(records.map((r) => r.timestamp));
    from = times.length ? Math.min(...times) : win.to - bucketMs;
  }
  const span = cellSpan({ from, to: win.to }, bucketMs);
  const start = Math.floor(from / span) * span;
  const cols = Math.max(1, Math.ceil((win.to - start) / span));
  const lanes = new Map(); // label -> { split, cells: Map(col -> {score, time, doc}) }
  const put = (key, split, d, score) => {
    if (!lanes.has(key)) lanes.set(key, { split, cells: new Map(), max: 0 });
    const lane = lanes.get(key);
    const col = Math.floor((d.timestamp - start) / span);
    const cur = lane.cells.get(col);
    if (!cur || score > cur.score) lane.cells.set(col, { score, time: start + col * span, doc: d });
    lane.max = Math.max(lane.max, score);
  };
  for (const b of buckets) put("overall", null, b, b.anomaly_score);
  for (const r of records) put(label(r), splits(r), r, r.record_score);
  const keys = [...lanes.keys()].filter((k) => k !== "overall").sort((a, b) => lanes.get(b).max - lanes.get(a).max);
  if (lanes.has("overall")) keys.unshift("overall");
  if (!keys.length) {
    host.append(el("p", { class: "muted" }, "No anomalies at or above this score in the range."));
    return;
  }
  const avail = Math.max(600, (host.clientWidth || 1000) - 30);
  const labelW = 190, cellW = Math.max(4, Math.min(40, Math.floor((avail - labelW) / cols))), rowH = 22, top = 6, axisH = 26;
  const width = labelW + cols * cellW + 10, height = top + keys.length * rowH + axisH;
  const svg = svgEl("svg", {
    width, height, role: "img", "aria-label": "anomaly swimlane",
    "data-job": state.job.job_id, "data-span": String(span),
  });
  keys.forEach((key, row) => {
    const lane = lanes.get(key);
    const y = top + row * rowH;
    const text = svgEl("text", { x: labelW - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "lane-label" });
    text.textContent = key.length > 30 ? key.slice(0, 29) + "…" : key;
    if (lane.split) text.addEventListener("click", () => showSingle({ label: key, split: lane.split }));
    svg.append(text);
    svg.append(svgEl("rect", { x: labelW, y, width: cols * cellW, height: rowH - 2, fill: "#f1f4f9" }));
    for (const [col, cell] of lane.cells) {
      const r = svgEl("rect", {
        x: labelW + col * cellW, y, width: cellW, height: rowH - 2, fill: color(cell.score), class: "cell",
        "data-lane": key, "data-time": String(cell.time), "data-score": String(cell.score),
      });
      const what = key === "overall" ? "anomaly score" : "max record score";
      const extra = cell.doc.explanation ? "\n" + cell.doc.explanation : "";
      r.addEventListener("mousemove", (e) => tooltip(e, `${key}\n${fmtTime(cell.time)}\n${what} ${fmtNum(cell.score)}${extra}`));
      r.addEventListener("mouseleave", (e) => tooltip(e, null));
      r.addEventListener("click", () => {
        // As in Elastic's Anomaly Explorer, the influencer panel narrows to the clicked
        // cell (its time and, for a partition lane, that lane's records); a second click
        // on the same cell widens it again.
        const same = state.cell && state.cell.lane === key && state.cell.from === cell.time;
        state.cell = same ? null : { lane: key, from: cell.time, to: cell.time + span };
        for (const c of svg.querySelectorAll("rect.cell.chosen")) c.classList.remove("chosen");
        if (!same) r.classList.add("chosen");
        drawInfluencers();
        if (lane.split) showSingle({ label: key, split: lane.split, focus: cell.time });
      });
      svg.append(r);
    }
  });
  // Time axis: about eight labels.
  const every = Math.max(1, Math.ceil(cols / 8));
  const axisY = top + keys.length * rowH + 14;
  for (let c = 0; c < cols; c += every) {
    const t = svgEl("text", { x: labelW + c * cellW, y: axisY });
    t.textContent = fmtTime(start + c * span).slice(5);
    svg.append(t);
  }
  host.append(svg);
}

// Per influencer field, its values ranked by their highest influencer score (then by value),
// with the time of that score and the sum of their scores; interim results left out.
function rankInfluencers(docs) {
  const fields = new Map(); // field -> Map(value -> { max, total, time })
  for (const d of docs) {
    const f = d.influencer_field_name, s = d.influencer_score;
    if (d.is_interim === true || f === undefined || typeof s !== "number") continue;
    const v = String(d.influencer_field_value);
    if (!fields.has(f)) fields.set(f, new Map());
    const cur = fields.get(f).get(v) || { max: -1, total: 0, time: d.timestamp };
    if (s > cur.max) Object.assign(cur, { max: s, time: d.timestamp });
    cur.total += s;
    fields.get(f).set(v, cur);
  }
  const byScore = (a, b) => b[1].max - a[1].max || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  return [...fields.keys()].sort().map((f) => [f, [...fields.get(f)].sort(byScore).slice(0, 10)]);
}

// The influencer results of the chosen swimlane cell: those of its time span and, for a
// partition lane, only the values the lane's records of that span name (their own split
// values included); all of the range when no cell is chosen.
function cellInfluencers() {
  const docs = state.influencerDocs || [];
  const cell = state.cell;
  if (!cell) return docs;
  const inCell = (d) => d.timestamp >= cell.from && d.timestamp < cell.to;
  if (cell.lane === "overall") return docs.filter(inCell);
  const named = new Set();
  for (const r of state.records) {
    if (!inCell(r) || label(r) !== cell.lane) continue;
    for (const i of r.influencers || []) {
      for (const v of i.influencer_field_values || []) named.add(i.influencer_field_name + "\u0000" + String(v));
    }
    for (const p of splits(r)) named.add(p.field + "\u0000" + String(p.value));
  }
  return docs.filter((d) => inCell(d) && named.has(d.influencer_field_name + "\u0000" + String(d.influencer_field_value)));
}

function drawInfluencers() {
  const host = $("#influencers");
  host.textContent = "";
  const cell = state.cell;
  const note = $("#influencers-filter");
  note.hidden = !cell;
  note.textContent = cell
    ? `Only influencers of ${cell.lane} from ${fmtTime(cell.from)} to ${fmtTime(cell.to)}; click the cell again for the whole range.`
    : "";
  const ranked = rankInfluencers(cellInfluencers());
  if (!ranked.length) {
    host.append(el("p", { class: "muted" }, cell ? "No influencers in this cell." : "No influencers at or above this score in the range."));
    return;
  }
  const chosen = state.influencer;
  for (const [field, values] of ranked) {
    const box = el("div", { class: "influencer-field", "data-field": field });
    box.append(el("h4", {}, field));
    const table = el("table", { class: "grid" });
    const head = el("tr");
    for (const h of ["value", "max score", "total score"]) head.append(el("th", {}, h));
    table.append(el("thead"), el("tbody"));
    table.tHead.append(head);
    for (const [value, s] of values) {
      const tr = el("tr", { "data-field": field, "data-value": value, "data-score": String(s.max), "data-time": String(s.time) });
      tr.classList.toggle("selected", !!chosen && chosen.field === field && chosen.value === value);
      const badge = el("td");
      badge.append(scoreBadge(s.max));
      tr.append(el("td", { title: `highest at ${fmtTime(s.time)}` }, value), badge, el("td", { class: "num" }, fmtNum(s.total)));
      tr.addEventListener("click", () => {
        const same = chosen && chosen.field === field && chosen.value === value;
        state.influencer = same ? null : { field, value };
        drawInfluencers();
        drawTable();
      });
      table.tBodies[0].append(tr);
    }
    box.append(table);
    host.append(box);
  }
}

// Whether record `r` names `value` of `field` among its influencers.
function influencedBy(r, { field, value }) {
  return (r.influencers || []).some((i) => i.influencer_field_name === field &&
    (i.influencer_field_values || []).some((v) => String(v) === value));
}

// The top anomalies, or with an influencer chosen the top 50 of the range it influenced.
function drawTable() {
  const tbody = $("#anomalies tbody");
  tbody.textContent = "";
  const note = $("#anomalies-filter");
  const chosen = state.influencer;
  note.hidden = !chosen;
  note.textContent = chosen ? `Only anomalies influenced by ${chosen.field}=${chosen.value}.` : "";
  const top = chosen
    ? state.records.filter((r) => influencedBy(r, chosen)).sort((a, b) => b.record_score - a.record_score).slice(0, 50)
    : state.top || [];
  if (!top.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "7", class: "muted" }, "No anomalies in the range."));
    tbody.append(tr);
    return;
  }
  for (const r of top) {
    const tr = el("tr");
    const cells = [
      fmtTime(r.timestamp), scoreBadge(r.record_score), r.function || "", label(r),
      fmtNum(first(r.actual)), fmtNum(first(r.typical)), r.explanation || "",
    ];
    cells.forEach((c, i) => {
      const td = el("td", i === 4 || i === 5 ? { class: "num" } : {});
      if (c instanceof Node) td.append(c);
      else td.textContent = c;
      tr.append(td);
    });
    const sp = splits(r);
    if (sp.length) tr.addEventListener("click", () => showSingle({ label: label(r), split: sp, focus: r.timestamp }));
    if (sp.length === 1 && r.over_field_name === undefined && state.job.model_plot) {
      // The explanation links to what else moved like this partition at this time.
      const a = el("a", { href: "#similar", class: "similar-link" }, "what else moved like this?");
      a.addEventListener("click", async (e) => {
        e.preventDefault();
        e.stopPropagation();
        await showSingle({ label: label(r), split: sp, focus: r.timestamp });
        $("#similar").scrollIntoView({ behavior: "smooth", block: "start" });
      });
      tr.lastChild.append(" ", a);
    }
    tbody.append(tr);
  }
}

async function showSingle(sel) {
  state.selected = sel;
  setHash();
  const win = timeWindow();
  const host = $("#single-chart");
  $("#single").hidden = false;
  $("#single-title").textContent = `Single metric: ${sel.label}`;
  host.textContent = "";
  if (!win) return;
  const params = { partition: sel.split[0].field + "=" + sel.split[0].value, to: String(win.to) };
  if (win.from !== null) params.from = String(win.from);
  try {
    const same = (d) => label(d) === sel.label;
    const [plot, recs, fc] = await Promise.all([
      results("model_plot", params, 20000),
      results("records", params, 10000),
      results("forecasts", { partition: params.partition, from: String(win.to - 1) }, 20000).catch(() => []),
    ]);
    const mine = recs.filter(same);
    drawSingle(host, plot.filter(same), mine, latestForecast(fc.filter(same)), sel.focus);
    host.scrollIntoView({ behavior: "smooth", block: "nearest" });
    await showSimilar(sel, mine);
  } catch (e) {
    host.append(el("p", { class: "error" }, e.message));
  }
}

// "Moved together": the series of every job whose shape matched this one's over 6 hours
// around the focused time (else this partition's highest-scoring record), as small multiples.
async function showSimilar(sel, recs) {
  const box = $("#similar"), grid = $("#similar-grid"), note = $("#similar-note");
  grid.textContent = "";
  let at = sel.focus;
  if (at === undefined && recs.length) at = recs.reduce((a, r) => (r.record_score > a.record_score ? r : a)).timestamp;
  // Shapes come from model plot: a job without it has nothing to compare.
  if (at === undefined || sel.split.length !== 1 || !state.job.model_plot) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  note.textContent = "Looking for series that moved like this one…";
  const q = new URLSearchParams({ job: state.job.job_id, partition: sel.split[0].field + "=" + sel.split[0].value, at: String(at), window: "6h", top: "6" });
  try {
    const out = await api(`/api/similar?${q}`);
    note.textContent = `Closest shapes over ${fmtTime(out.from)} – ${fmtTime(out.to).slice(11)} among ${out.series} series ` +
      `(z-normalised distance: 0 same shape, 1.41 unrelated), among those their own model scored 50 or more. Dashed grey: ${sel.label}.` +
      (out.matches.length ? "" : " No other series moved unusually like this one.") +
      (out.skipped.length ? ` Not compared: ${out.skipped.join("; ")}.` : "");
    grid.append(multiple(out, { job_id: out.job_id, partition: out.partition, values: out.values, max_record_score: out.max_record_score }, true));
    for (const m of out.matches) grid.append(multiple(out, m, false));
  } catch (e) {
    note.textContent = e.message;
  }
}

// One small multiple: the match (blue) over the query (dashed grey), each scaled to its own range.
function multiple(out, m, isQuery) {
  const W = 224, H = 54;
  const div = el("div", { class: isQuery ? "multiple query" : "multiple", "data-job": m.job_id, "data-partition": m.partition });
  if (!isQuery) div.dataset.rank = String(m.rank);
  // The value first (what differs between multiples), then the job and field.
  const eq = m.partition.lastIndexOf("=");
  const name = el("div", { class: "name", title: `${m.job_id} ${m.partition}` }, `${isQuery ? "query" : "#" + m.rank} ${eq > 0 ? m.partition.slice(eq + 1) : "(all)"} `);
  name.append(el("span", { class: "muted" }, `${m.job_id}${eq > 0 ? " · " + m.partition.slice(0, eq) : ""}`));
  div.append(name);
  const svg = svgEl("svg", { width: W, height: H });
  const path = (vals, stroke, extra) => {
    const lo = Math.min(...vals), hi = Math.max(...vals), n = Math.max(1, vals.length - 1);
    const pts = vals.map((v, i) => `${(i / n) * (W - 4) + 2},${H - 3 - ((v - lo) / (hi - lo || 1)) * (H - 6)}`);
    svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke, "stroke-width": 1.3, ...extra }));
  };
  if (!isQuery) path(out.values, "#98a2b3", { "stroke-dasharray": "3 2" });
  path(m.values, isQuery ? "#69707d" : "#1f5e8c", isQuery ? { "stroke-dasharray": "3 2" } : {});
  div.append(svg);
  const score = m.max_record_score === null || m.max_record_score === undefined ? "–" : Math.round(m.max_record_score);
  const facts = isQuery
    ? `max record score ${score}`
    : `distance ${m.distance.toFixed(2)} · corr ${m.correlation.toFixed(2)} · lag ${m.lag_buckets > 0 ? "+" : ""}${m.lag_buckets} · max score ${score}`;
  div.append(el("div", { class: "facts" }, facts));
  if (!isQuery) {
    div.addEventListener("click", async () => {
      const [field, ...rest] = m.partition.split("=");
      if (m.partition === "-" || !rest.length) return;
      if (state.job.job_id !== m.job_id) await selectJob(m.job_id);
      await showSingle({ label: m.partition, split: [{ field, value: rest.join("=") }], focus: out.from + (out.to - out.from) / 2 });
    });
  }
  return div;
}

// Only the newest forecast's documents.
function latestForecast(docs) {
  if (!docs.length) return [];
  const newest = docs.reduce((a, d) => Math.max(a, d.forecast_create_timestamp || 0), 0);
  return docs.filter((d) => (d.forecast_create_timestamp || 0) === newest);
}

// 1, 2 or 5 times a power of ten, at least `raw`.
function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function drawSingle(host, plot, recs, forecast, focus) {
  if (!plot.length && !recs.length) {
    host.append(el("p", { class: "muted" }, "No model plot for this partition: enable model_plot_config in the job to see bounds."));
  }
  const W = Math.max(640, (host.clientWidth || 900) - 2), H = 300;
  const m = { l: 60, r: 16, t: 12, b: 28 };
  const xs = [], ys = [];
  for (const d of plot) {
    xs.push(d.timestamp);
    for (const v of [d.model_lower, d.model_upper, d.actual]) if (typeof v === "number") ys.push(v);
  }
  for (const r of recs) {
    xs.push(r.timestamp);
    if (typeof first(r.actual) === "number") ys.push(first(r.actual));
  }
  for (const f of forecast) {
    xs.push(f.timestamp);
    for (const v of [f.forecast_lower, f.forecast_upper, f.forecast_prediction]) if (typeof v === "number") ys.push(v);
  }
  if (!xs.length) return;
  const x0 = Math.min(...xs), x1 = Math.max(...xs) + state.job.bucket_span_seconds * 1000;
  let y0 = Math.min(0, ...ys), y1 = Math.max(...ys);
  if (y1 <= y0) y1 = y0 + 1;
  const step = niceStep((y1 - y0) / 4);
  y0 = Math.floor(y0 / step) * step;
  y1 = Math.ceil((y1 * 1.02) / step) * step;
  const X = (t) => m.l + ((t - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const Y = (v) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const svg = svgEl("svg", { width: W, height: H, role: "img", "aria-label": "single metric" });
  // Axes and grid.
  for (let v = y0; v <= y1 + step / 2; v += step) {
    svg.append(svgEl("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), stroke: "#eef0f4" }));
    const t = svgEl("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" });
    t.textContent = fmtNum(v);
    svg.append(t);
  }
  for (let i = 0; i <= 6; i++) {
    const tm = x0 + ((x1 - x0) * i) / 6;
    const t = svgEl("text", { x: X(tm), y: H - 8, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle" });
    t.textContent = fmtTime(tm).slice(5);
    svg.append(t);
  }
  const band = (docs, lo, hi, fill) => {
    const pts = docs.filter((d) => typeof d[lo] === "number" && typeof d[hi] === "number");
    if (!pts.length) return;
    const up = pts.map((d) => `${X(d.timestamp)},${Y(d[hi])}`);
    const down = pts.slice().reverse().map((d) => `${X(d.timestamp)},${Y(d[lo])}`);
    svg.append(svgEl("polygon", { points: up.concat(down).join(" "), fill, opacity: 0.5, class: `band-${lo}` }));
  };
  const line = (docs, get, stroke, extra) => {
    const pts = docs.filter((d) => typeof get(d) === "number").map((d) => `${X(d.timestamp)},${Y(get(d))}`);
    if (pts.length) svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke, "stroke-width": 1.4, ...extra }));
  };
  band(plot, "model_lower", "model_upper", "#a6cee3");
  band(forecast, "forecast_lower", "forecast_upper", "#c4a7e7");
  line(plot, (d) => d.actual, "#1f5e8c", { class: "actual" });
  line(forecast, (d) => d.forecast_prediction, "#7b49c4", { "stroke-dasharray": "4 3", class: "forecast" });
  if (focus !== undefined) {
    svg.append(svgEl("line", { x1: X(focus), x2: X(focus), y1: m.t, y2: H - m.b, stroke: "#69707d", "stroke-dasharray": "2 2" }));
  }
  for (const r of recs) {
    const v = first(r.actual);
    if (typeof v !== "number") continue;
    const c = svgEl("circle", {
      cx: X(r.timestamp), cy: Y(v), r: r.record_score >= 75 ? 6 : 4.5, fill: color(r.record_score),
      stroke: "#333", "stroke-width": 0.7, class: "anomaly", "data-score": String(r.record_score),
    });
    c.addEventListener("mousemove", (e) => tooltip(e, `${fmtTime(r.timestamp)}\nscore ${fmtNum(r.record_score)}\nactual ${fmtNum(v)}, typical ${fmtNum(first(r.typical))}\n${r.explanation || ""}`));
    c.addEventListener("mouseleave", (e) => tooltip(e, null));
    svg.append(c);
  }
  host.append(svg);
}

$("#range").addEventListener("change", refresh);
$("#min-score").addEventListener("change", refresh);
$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("#token").value.trim();
  sessionStorage.setItem("tidewatch-token", state.token);
  $("#token-form").hidden = true;
  loadJobs();
});

loadSeverity().then(loadJobs);
