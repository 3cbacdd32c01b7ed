// Compiles and renders kibana/vega/*.vl.json with the vega and vega-lite npm packages (the
// versions package.json pins), feeding each spec the answer Elasticsearch would give to its
// Kibana query, the way Kibana's Vega plugin does:
//   1. the `url` object's placeholders are resolved: `%context%: true` becomes a query (here:
//      match_all, no dashboard filters), `%timefield%` a range over the time picker (here: the
//      span of the documents), `{"%autointerval%": true}` an interval string;
//   2. the query runs (here: a small in-script evaluator of exactly the request parts the specs
//      use: filter/terms/date_histogram/max aggregations, and hits with sort and _source);
//   3. Kibana replaces `url` with `values` = the response; `format.property` picks the part.
// Then vega-lite compiles the spec, vega renders it headless to SVG, resvg to PNG.
//
// Usage: node render.mjs [RESULTS.ndjson] [OUTDIR] [options]
//   --from=T --to=T            the time picker (ISO 8601 or epoch ms; default: the documents' span)
//   --filter=field=value       a dashboard filter on every panel (repeatable)
//   --single-filter=field=value  a filter on the single-metric panel only, as the Job and
//                              Partition controls would set (repeatable)
//   --expect=FILE              JSON [{spec, lane?, from, to, name, min_score?, fill?}]: each
//                              must show a mark scoring >= min_score (default 75) in colour
//                              fill (default critical #fe5050): in the swimlane a cell of lane
//                              `lane` overlapping [from, to); in the single metric a point in
//                              [from, to)
//        (defaults: a synthetic day of results, ./out)
// Exits non-zero if a spec fails to compile or render, draws no marks, or an expectation fails.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as vega from "vega";
import * as vl from "vega-lite";
import { Resvg } from "@resvg/resvg-js";

const here = path.dirname(fileURLToPath(import.meta.url));
const specDir = path.join(here, "..", "..", "kibana", "vega");
const option = (name) => process.argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
// --single-filter=field=value: a dashboard filter for the single-metric spec (as the
// Partition control would set), so one series is drawn.
const singleFilters = option("single-filter");
const termFilter = (fv) => {
  const i = fv.indexOf("=");
  if (i <= 0) throw new Error(`filter \`${fv}\`: expected field=value`);
  return { term: { [fv.slice(0, i)]: fv.slice(i + 1) } };
};
const globalFilters = option("filter").map(termFilter);
const parseTime = (t) => (/^\d+$/.test(t) ? Number(t) : Date.parse(t));
const expectations = option("expect").flatMap((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const [input, outArg] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const outDir = outArg || path.join(here, "out");

function synthetic() {
  // One day of 15-minute buckets for two partitions, with model bounds, a few anomalies and a
  // short forecast: enough to draw every layer.
  const t0 = Date.UTC(2015, 4, 18), span = 900_000, docs = [];
  const anomalies = { "DE:40": 91.5, "DE:41": 60, "FR:40": 30, "FR:70": 80, "DE:10": 12 };
  for (let b = 0; b < 96; b++) {
    const t = t0 + b * span;
    let max = 0;
    for (const c of ["DE", "FR"]) {
      const base = 50 + 20 * Math.sin((2 * Math.PI * b) / 96) + (c === "FR" ? 30 : 0);
      const score = anomalies[`${c}:${b}`];
      const actual = score ? base * (1 + score / 20) : base + ((b * 7) % 5) - 2;
      docs.push({ job_id: "web", result_type: "model_plot", timestamp: t, detector_index: 0,
        partition_field_name: "country", partition_field_value: c, actual,
        model_lower: base * 0.8, model_upper: base * 1.2, model_median: base });
      if (score) {
        max = Math.max(max, score);
        docs.push({ job_id: "web", result_type: "record", timestamp: t, detector_index: 0,
          partition_field_name: "country", partition_field_value: c, record_score: score,
          actual: [actual], typical: [base], explanation: `spike: ${(actual / base).toFixed(1)}x typical` });
      }
    }
    docs.push({ job_id: "web", result_type: "bucket", timestamp: t, anomaly_score: max });
  }
  for (let k = 0; k < 16; k++) {
    const t = t0 + (96 + k) * span, base = 50 + 20 * Math.sin((2 * Math.PI * k) / 96);
    docs.push({ job_id: "web", result_type: "model_forecast", timestamp: t, detector_index: 0,
      partition_field_name: "country", partition_field_value: "DE", forecast_prediction: base,
      forecast_lower: base * (0.8 - k * 0.01), forecast_upper: base * (1.2 + k * 0.01) });
  }
  return docs;
}

const docs = input
  ? fs.readFileSync(input, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
  : synthetic();
if (!docs.length) throw new Error("no result documents");

// ---- Kibana placeholders -------------------------------------------------------------------

// The time picker: --from/--to, else the documents' span (a loop: spreading 100,000
// timestamps into Math.min overflows the stack).
let tmin = Infinity, tmax = -Infinity;
for (const d of docs) {
  if (d.timestamp < tmin) tmin = d.timestamp;
  if (d.timestamp > tmax) tmax = d.timestamp;
}
const range = {
  min: option("from")[0] ? parseTime(option("from")[0]) : tmin,
  max: option("to")[0] ? parseTime(option("to")[0]) : tmax + 1,
};
if (!(range.min < range.max)) throw new Error(`empty time range ${JSON.stringify(range)}`);
// `%autointerval%: true` asks for about 50 buckets over the time picker's range; Kibana takes
// the usual interval nearest to range / 50 (its "near" rounding), so do the same (nearest on a
// log scale).
const NICE = [60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 12 * 3600e3, 86400e3, 7 * 86400e3];
const target = (range.max - range.min) / 50;
const autoMs = NICE.reduce((a, ms) => (Math.abs(Math.log(ms / target)) < Math.abs(Math.log(a / target)) ? ms : a));
const msText = (ms) => (ms % 86400e3 === 0 ? `${ms / 86400e3}d` : ms % 3600e3 === 0 ? `${ms / 3600e3}h` : `${ms / 60e3}m`);

function resolve(node, timefield) {
  if (Array.isArray(node)) return node.map((n) => resolve(n, timefield));
  if (node && typeof node === "object") {
    if ("%autointerval%" in node) return msText(autoMs);
    if ("%timefilter%" in node) return node["%timefilter%"] === "min" ? range.min : range.max;
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      // Kibana turns the deprecated `interval` into `fixed_interval` for date histograms.
      out[k === "interval" ? "fixed_interval" : k] = resolve(v, timefield);
    }
    return out;
  }
  return node;
}

function kibanaRequest(url, extraFilters = []) {
  if (url["%context%"] !== true) throw new Error("spec does not use %context%: true");
  const timefield = url["%timefield%"];
  if (!timefield) throw new Error("spec has no %timefield%");
  const body = resolve(url.body || {}, timefield);
  if (body.query) throw new Error("Kibana refuses body.query together with %context%");
  body.query = { bool: { filter: [{ range: { [timefield]: { gte: range.min, lte: range.max, format: "epoch_millis" } } }, ...extraFilters] } };
  const left = JSON.stringify(body).match(/%[a-z_]+%/);
  if (left) throw new Error(`unresolved placeholder ${left[0]}`);
  return { index: url.index, body };
}

// ---- The query evaluator (only what the specs send) ------------------------------------------

function parseInterval(text) {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new Error(`interval ${text}`);
  return Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2]];
}

function matches(q, d) {
  if (q.bool) {
    return (q.bool.filter || []).concat(q.bool.must || []).every((c) => matches(c, d)) &&
      !(q.bool.must_not || []).some((c) => matches(c, d));
  }
  if (q.exists) return d[q.exists.field] !== undefined && d[q.exists.field] !== null;
  if (q.term) {
    const [f, v] = Object.entries(q.term)[0];
    return d[f] === (v && typeof v === "object" ? v.value : v);
  }
  if (q.range) {
    const [f, r] = Object.entries(q.range)[0];
    const x = d[f];
    if (x === undefined) return false;
    return (r.gte === undefined || x >= r.gte) && (r.gt === undefined || x > r.gt) &&
      (r.lte === undefined || x <= r.lte) && (r.lt === undefined || x < r.lt);
  }
  if (q.match_all) return true;
  throw new Error(`query ${JSON.stringify(q)} not supported by the evaluator`);
}

function aggregate(aggs, set) {
  const out = {};
  for (const [name, a] of Object.entries(aggs || {})) {
    if (a.filter) {
      const sub = set.filter((d) => matches(a.filter, d));
      out[name] = { doc_count: sub.length, ...aggregate(a.aggs, sub) };
    } else if (a.terms) {
      const groups = new Map();
      for (const d of set) {
        const k = d[a.terms.field] !== undefined ? d[a.terms.field] : a.terms.missing;
        if (k === undefined) continue;
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k).push(d);
      }
      let buckets = [...groups].map(([key, g]) => ({ key, doc_count: g.length, ...aggregate(a.aggs, g) }));
      const [ok, dir] = Object.entries(a.terms.order || { _count: "desc" })[0];
      const val = (b) => (ok === "_count" ? b.doc_count : ok === "_key" ? b.key : b[ok].value);
      buckets.sort((x, y) => (dir === "desc" ? -1 : 1) * (val(x) < val(y) ? -1 : val(x) > val(y) ? 1 : 0));
      out[name] = { buckets: buckets.slice(0, a.terms.size || 10) };
    } else if (a.date_histogram) {
      const h = a.date_histogram, step = parseInterval(h.fixed_interval);
      const groups = new Map();
      for (const d of set) {
        const k = Math.floor(d[h.field] / step) * step;
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k).push(d);
      }
      if ((h.min_doc_count ?? 1) === 0) {
        // Empty buckets from the first to the last key, widened to extended_bounds.
        const keys = [...groups.keys()];
        const lo = Math.min(...keys, h.extended_bounds ? Math.floor(h.extended_bounds.min / step) * step : Infinity);
        const hi = Math.max(...keys, h.extended_bounds ? Math.floor((h.extended_bounds.max - 1) / step) * step : -Infinity);
        for (let k = lo; Number.isFinite(lo) && k <= hi; k += step) if (!groups.has(k)) groups.set(k, []);
      }
      const buckets = [...groups].sort((x, y) => x[0] - y[0])
        .filter(([, g]) => g.length >= (h.min_doc_count ?? 1))
        .map(([key, g]) => ({ key, key_as_string: new Date(key).toISOString(), doc_count: g.length, ...aggregate(a.aggs, g) }));
      out[name] = { buckets };
    } else if (a.max) {
      const vals = set.map((d) => d[a.max.field]).filter((v) => typeof v === "number");
      out[name] = { value: vals.length ? Math.max(...vals) : null };
    } else {
      throw new Error(`aggregation ${Object.keys(a)} not supported by the evaluator`);
    }
  }
  return out;
}

function search({ body }) {
  const set = docs.filter((d) => matches(body.query, d));
  const resp = { hits: { total: { value: set.length, relation: "eq" }, hits: [] } };
  if (body.size) {
    const sorted = set.slice();
    for (const s of (body.sort || []).slice().reverse()) {
      const [f, o] = Object.entries(s)[0];
      const desc = (typeof o === "string" ? o : o.order) === "desc";
      sorted.sort((x, y) => (desc ? -1 : 1) * ((x[f] ?? 0) - (y[f] ?? 0)));
    }
    resp.hits.hits = sorted.slice(0, body.size).map((d, i) => {
      const src = body._source ? Object.fromEntries(body._source.filter((k) => k in d).map((k) => [k, d[k]])) : d;
      return { _index: "tidewatch-results", _id: String(i), _source: src };
    });
  }
  if (body.aggs) resp.aggregations = aggregate(body.aggs, set);
  return resp;
}

// Lanes in the swimlane's response: the buckets of each split kind's terms aggregation.
function countLanes(resp) {
  const r = (resp.aggregations && resp.aggregations.records) || {};
  return ["partition", "by", "over"].reduce((n, k) => n + ((r[k] && r[k].buckets) || []).length, 0) +
    (((r.unsplit && r.unsplit.lanes) || {}).buckets || []).length;
}

// ---- Expectations, checked on the rendered scene graph ---------------------------------------

// Every mark item with its datum and fill, from the view's scene graph.
function sceneItems(node, out = []) {
  for (const item of node.items || []) {
    if (item.datum !== undefined && item.fill !== undefined) {
      out.push({ marktype: node.marktype, datum: item.datum, fill: String(item.fill).toLowerCase() });
    }
    sceneItems(item, out);
  }
  return out;
}

function checkExpectation(view, e) {
  const from = parseTime(String(e.from)), to = parseTime(String(e.to));
  const items = sceneItems(view.scenegraph().root);
  const minScore = e.min_score ?? 75, fill = (e.fill || "#fe5050").toLowerCase();
  const critical = items.filter((it) => it.fill === fill && it.datum.score >= minScore);
  let hit;
  if (e.lane !== undefined) {
    // A swimlane cell covers [time, time + interval).
    hit = critical.find((it) => it.marktype === "rect" && String(it.datum.partition) === String(e.lane) &&
      it.datum.time < to && it.datum.time + autoMs > from);
  } else {
    hit = critical.find((it) => it.marktype === "symbol" && +it.datum.time >= from && +it.datum.time < to);
  }
  const where = `${e.lane !== undefined ? `lane ${e.lane} ` : ""}${new Date(from).toISOString()}..${new Date(to).toISOString()}`;
  if (!hit) {
    const lanes = [...new Set(critical.map((it) => `${it.datum.partition ?? ""}@${new Date(+it.datum.time).toISOString()}`))];
    throw new Error(`expected a ${fill} mark scoring >= ${minScore} for ${e.name} (${where}); such marks: ${lanes.slice(0, 20).join(", ") || "none"}`);
  }
  console.log(`ok ${e.name}: ${fill} mark (score ${hit.datum.score.toFixed(1)}) at ${where}`);
}

// ---- Render ---------------------------------------------------------------------------------

fs.mkdirSync(outDir, { recursive: true });
let failed = false;
const specFiles = fs.readdirSync(specDir).filter((f) => f.endsWith(".json")).sort();
for (const e of expectations) {
  if (!specFiles.some((f) => f.replace(/\.vl\.json$|\.json$/, "") === e.spec)) {
    failed = true;
    console.error(`FAILED expectation ${e.name}: no spec named ${e.spec} in ${specDir}`);
  }
}
for (const file of specFiles) {
  const name = file.replace(/\.vl\.json$|\.json$/, "");
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(specDir, file), "utf8"));
    const filters = [...globalFilters];
    if (name.includes("single")) filters.push(...singleFilters.map(termFilter));
    const request = kibanaRequest(spec.data.url, filters);
    spec.data = { values: search(request), format: spec.data.format };
    spec.width = 900;
    // A Kibana panel has the height the dashboard gives it; for the picture, 16 px per lane.
    const lanes = name.includes("swimlane") ? countLanes(spec.data.values) : 0;
    spec.height = name.includes("swimlane") ? Math.max(120, 16 * lanes) : 300;
    spec.autosize = { type: "pad" };
    const isLite = String(spec.$schema || "").includes("vega-lite");
    const compiled = isLite ? vl.compile(spec).spec : spec;
    const view = new vega.View(vega.parse(compiled), { renderer: "none" });
    await view.runAsync();
    const svg = await view.toSVG();
    const marks = (svg.match(/<path|<rect|<line/g) || []).length;
    if (marks < 5) throw new Error(`rendered only ${marks} marks`);
    // The severity scale is applied: critical marks (the incidents) and at least one lower
    // band; which lower band the demo's quieter anomalies fall in is the model's business.
    const lower = svg.toLowerCase();
    if (!lower.includes("#fe5050")) throw new Error("no #fe5050 mark: severity colours missing");
    if (!["#fba740", "#fdec25", "#8bc8fb"].some((c) => lower.includes(c))) {
      throw new Error("no mark below critical: severity colours missing");
    }
    for (const e of expectations.filter((e) => e.spec === name)) checkExpectation(view, e);
    fs.writeFileSync(path.join(outDir, `${name}.svg`), svg);
    const png = new Resvg(svg, { background: "white", fitTo: { mode: "zoom", value: 1.5 } }).render().asPng();
    fs.writeFileSync(path.join(outDir, `${name}.png`), png);
    console.log(`ok ${name}: ${marks} marks, ${png.length} bytes PNG -> ${path.join(outDir, name)}.{svg,png}`);
  } catch (e) {
    failed = true;
    console.error(`FAILED ${name}: ${e.stack || e}`);
  }
}
process.exit(failed ? 1 : 0);
