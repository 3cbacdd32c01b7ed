// Opens the built-in web UI of a running `tidewatch serve` in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core; nothing is downloaded), checks the job list and
// the swimlane, clicks a critical cell through to its single-metric view, and saves
// screenshots.
//
// Usage: [TIDEWATCH_API_TOKEN=T] node ui.mjs BASE_URL JOB_ID [OUTDIR] [--expect-critical]
//                                [--incidents=FILE]
//   --expect-critical   the selected job's swimlane must show a critical (>= 75) cell
//   --incidents=FILE    JSON [{name, job, lane, from, to, min_score?, fill?}] (epoch ms): for
//                       each, the job's swimlane must show a cell scoring >= min_score
//                       (default 75) in colour fill (default critical #fe5050) in lane `lane`
//                       overlapping [from, to); the first incident's cell is the one clicked
//                       through to its single-metric view (else the top cell of JOB_ID)
//   --similar=FILE      JSON {job, lane, at, top3: [..], not_top3: [..]}: opens the single-metric
//                       view of `lane` at `at` by deep link; its "moved together" panel must rank
//                       each `top3` series (`job partition`) in its first three and no `not_top3`
//                       one; screenshot OUTDIR/ui-similar.png
//   --influencers=FILE  JSON {job, field, value, from, to}: with the range on "everything", the
//                       job's "Top influencers" panel must list `value` first for `field`, its
//                       highest score in [from, to); clicking it must list only anomalies it
//                       influenced; screenshot OUTDIR/ui-influencers.png. A click on the overall
//                       swimlane cell of that score narrows the panel to the cell (value first),
//                       a cell a day away does not list it, a second click widens it again
//   (with a token, also checks that the page asks for it and then works with it)
//   e.g. node ui.mjs http://127.0.0.1:9280 status_code_rate ../../docs --expect-critical
// Screenshots: OUTDIR/ui-swimlane.png (the clicked job) and OUTDIR/ui-single-metric.png.
// Exits non-zero with a message on the first failed check.

import fs from "node:fs";
import { chromium } from "playwright-core";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const option = (name) => (process.argv.find((a) => a.startsWith(`--${name}=`)) || "").slice(name.length + 3);
const expectCritical = process.argv.includes("--expect-critical");
const incidents = option("incidents") ? JSON.parse(fs.readFileSync(option("incidents"), "utf8")) : [];
const similar = option("similar") ? JSON.parse(fs.readFileSync(option("similar"), "utf8")) : null;
const influencers = option("influencers") ? JSON.parse(fs.readFileSync(option("influencers"), "utf8")) : null;
const [base = "http://127.0.0.1:9280", job, outDir = "out"] = args;
if (!job) {
  console.error("usage: node ui.mjs BASE_URL JOB_ID [OUTDIR] [--expect-critical] [--incidents=FILE]");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const CRITICAL = "#fe5050";
const iso = (ms) => new Date(ms).toISOString().slice(0, 16);

function check(cond, msg) {
  if (!cond) throw new Error(msg);
  console.log(`ok ${msg}`);
}

// Selects `id` in the job list (unless already shown) and returns its swimlane cells.
async function showJob(page, id) {
  if ((await page.locator(`#swimlane svg[data-job="${id}"]`).count()) === 0) {
    await page.locator(`#jobs tbody tr[data-job="${id}"]`).click();
  }
  const svg = page.locator(`#swimlane svg[data-job="${id}"]`);
  await svg.waitFor({ timeout: 15000 });
  const span = Number(await svg.getAttribute("data-span"));
  const cells = await page.$$eval(`#swimlane svg[data-job="${id}"] rect.cell`, (rs) =>
    rs.map((r) => ({ lane: r.dataset.lane, time: Number(r.dataset.time), score: Number(r.dataset.score), fill: r.getAttribute("fill") })));
  return { span, cells };
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) errors.push(`request outside the server: ${r.url()}`);
  });

  const token = process.env.TIDEWATCH_API_TOKEN || "";
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const jobs = await (await fetch(`${base}/api/jobs`, { headers })).json();
  await page.goto(`${base}/#job=${encodeURIComponent(job)}`);
  if (token) {
    // The page asks for the token after its first /api call is refused.
    await page.waitForSelector("#token-form:not([hidden])", { timeout: 10000 });
    check(true, "the page asks for the API token");
    await page.fill("#token", token);
    await page.click("#token-form button");
    errors.length = 0; // the refused first call is expected
  }
  await page.waitForSelector("#jobs tbody tr");
  check((await page.locator("#jobs tbody tr").count()) === jobs.count, `job list shows all ${jobs.count} jobs`);
  check((await page.locator("#jobs tr.selected").getAttribute("data-job")) === job, `job ${job} is selected`);

  // Each injected incident: a critical cell in its lane, in its time window.
  let target = null; // { job, lane, time, score }
  for (const inc of incidents) {
    const { span, cells } = await showJob(page, inc.job);
    const minScore = inc.min_score ?? 75, fill = (inc.fill || CRITICAL).toLowerCase();
    const hit = cells.filter((c) => c.lane === inc.lane && c.score >= minScore && c.time < inc.to && c.time + span > inc.from)
      .sort((a, b) => b.score - a.score)[0];
    if (!hit) {
      const lane = cells.filter((c) => c.lane === inc.lane).sort((a, b) => b.score - a.score).slice(0, 3);
      throw new Error(`${inc.name}: no cell scoring >= ${minScore} in ${inc.job} lane ${inc.lane} within ${iso(inc.from)}..${iso(inc.to)}` +
        ` (that lane's top cells: ${lane.map((c) => `${c.score.toFixed(1)}@${iso(c.time)}`).join(", ") || "none"})`);
    }
    check(hit.fill.toLowerCase() === fill,
      `${inc.name}: ${inc.job} lane ${inc.lane} has a cell scoring ${hit.score.toFixed(1)} at ${iso(hit.time)} in ${fill}`);
    if (!target) target = { job: inc.job, minScore, ...hit };
  }

  const shown = target ? target.job : job;
  const { cells } = await showJob(page, shown);
  const partitionCells = cells.filter((c) => c.lane !== "overall");
  check(partitionCells.length > 0, `swimlane of ${shown} has ${partitionCells.length} partition cells`);
  if (!target) {
    const top = partitionCells.reduce((a, c) => (c.score > a.score ? c : a));
    if (expectCritical) {
      check(top.score >= 75, `swimlane shows a critical cell (max ${top.score} in ${top.lane})`);
      check(top.fill.toLowerCase() === CRITICAL, "critical cells are Elastic red #fe5050");
    }
    target = { job: shown, ...top };
  }
  const rows = await page.locator("#anomalies tbody tr").count();
  check(rows > 0, `top anomalies table has ${rows} rows`);
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: `${outDir}/ui-swimlane.png`, fullPage: false });

  // Click the target cell through to its single-metric view.
  await page.locator(`#swimlane rect.cell[data-lane="${target.lane}"][data-time="${target.time}"]`).first().click();
  await page.waitForSelector("#single:not([hidden]) #single-chart svg", { timeout: 15000 });
  const title = await page.textContent("#single-title");
  check(title.includes(target.lane), `single-metric view opened for ${target.lane}`);
  const marks = await page.$$eval("#single-chart circle.anomaly", (cs) => cs.map((c) => Number(c.dataset.score)));
  check(marks.length > 0, `single-metric view marks ${marks.length} anomalies`);
  const want = target.minScore ?? (target.score >= 75 ? 75 : 0);
  check(marks.some((s) => s >= want), `single-metric view marks an anomaly scoring >= ${want} (max ${Math.max(...marks).toFixed(1)})`);
  const hasActual = await page.locator("#single-chart polyline.actual").count();
  const hasBand = await page.locator("#single-chart polygon.band-model_lower").count();
  console.log(`${hasActual ? "ok" : "note"} actual line ${hasActual ? "drawn" : "absent (no model_plot)"}; model band ${hasBand ? "drawn" : "absent"}`);
  await page.locator("#single").screenshot({ path: `${outDir}/ui-single-metric.png` });

  if (similar) {
    // A deep link to a single-metric view at a moment: its "moved together" panel.
    const view = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    view.on("pageerror", (e) => errors.push(String(e)));
    const hash = new URLSearchParams({ job: similar.job, lane: similar.lane, at: String(similar.at) });
    await view.goto(`${base}/#${hash}`);
    await view.waitForSelector("#similar-grid .multiple[data-rank]", { timeout: 20000 });
    const ranked = await view.$$eval("#similar-grid .multiple[data-rank]", (ds) =>
      ds.map((d) => ({ rank: Number(d.dataset.rank), name: `${d.dataset.job} ${d.dataset.partition}` })));
    const top3 = ranked.filter((r) => r.rank <= 3).map((r) => r.name);
    console.log(`moved together with ${similar.lane} at ${iso(similar.at)}: ${ranked.map((r) => `${r.rank}. ${r.name}`).join("; ")}`);
    for (const want of similar.top3 || []) check(top3.includes(want), `"moved together" ranks ${want} in the top 3`);
    for (const not of similar.not_top3 || []) check(!top3.includes(not), `"moved together" does not rank ${not} in the top 3`);
    check((await view.locator("#similar-grid .multiple svg polyline").count()) >= 2 * ranked.length, "each match is drawn against the query");
    await view.locator("#single").screenshot({ path: `${outDir}/ui-similar.png` });
    await view.close();
  }
  if (influencers) {
    // The "Top influencers" panel over the whole range, then a click on the top value.
    const inf = influencers;
    await showJob(page, inf.job);
    await page.selectOption("#range", "0");
    const rows = `#influencers .influencer-field[data-field="${inf.field}"] tbody tr`;
    await page.waitForSelector(rows, { timeout: 20000 });
    const ranked = await page.$$eval(rows, (trs) =>
      trs.map((t) => ({ value: t.dataset.value, score: Number(t.dataset.score), time: Number(t.dataset.time) })));
    console.log(`top ${inf.field} of ${inf.job}: ${ranked.slice(0, 3).map((r) => `${r.value} ${r.score.toFixed(1)}@${iso(r.time)}`).join("; ")}`);
    check(ranked[0].value === inf.value, `"Top influencers" of ${inf.job} lists ${inf.value} first for ${inf.field}`);
    check(ranked[0].time >= inf.from && ranked[0].time < inf.to, `its highest score is at ${iso(ranked[0].time)}, within ${iso(inf.from)}..${iso(inf.to)}`);
    await page.locator(`${rows}[data-value="${inf.value}"]`).click();
    await page.waitForSelector("#anomalies-filter:not([hidden])", { timeout: 10000 });
    const listed = await page.$$eval("#anomalies tbody tr", (trs) => trs.map((t) => t.textContent));
    check(listed.length > 0 && listed.every((t) => !t.includes("No anomalies")), `clicking it lists the ${listed.length} anomalies it influenced`);
    await page.screenshot({ path: `${outDir}/ui-influencers.png`, fullPage: false });
    // A click on the overall lane's cell holding that score narrows the panel to the cell:
    // the value still leads, and every listed score falls in the cell; a cell away from the
    // incident does not list it; a second click widens the panel again.
    await page.locator(`${rows}[data-value="${inf.value}"]`).click(); // list all anomalies again
    const { span, cells } = await showJob(page, inf.job);
    const overall = cells.filter((c) => c.lane === "overall");
    const at = overall.find((c) => c.time <= ranked[0].time && ranked[0].time < c.time + span);
    check(!!at, `the overall lane has a cell at ${iso(ranked[0].time)}`);
    const cellRect = (c) => page.locator(`#swimlane rect.cell[data-lane="overall"][data-time="${c.time}"]`).first();
    await cellRect(at).click();
    await page.waitForSelector("#influencers-filter:not([hidden])", { timeout: 10000 });
    const narrowed = await page.$$eval(rows, (trs) => trs.map((t) => ({ value: t.dataset.value, time: Number(t.dataset.time) })));
    check(narrowed.length > 0 && narrowed[0].value === inf.value, `the cell at ${iso(at.time)} lists ${inf.value} first (${narrowed.length} values)`);
    check(narrowed.every((r) => r.time >= at.time && r.time < at.time + span), "every value listed for the cell scored within it");
    const away = overall.find((c) => c.time + span <= inf.from - 24 * 3600 * 1000 || c.time >= inf.to + 24 * 3600 * 1000);
    if (away) {
      await cellRect(away).click();
      await page.waitForFunction((t) => (document.querySelector("#influencers-filter").textContent || "").length > 0 &&
        document.querySelector(`#swimlane rect.cell.chosen[data-time="${t}"]`) !== null, String(away.time), { timeout: 10000 });
      const there = await page.$$eval(rows, (trs) => trs.map((t) => t.dataset.value));
      check(!there.includes(inf.value), `the cell at ${iso(away.time)}, a day from the incident, does not list ${inf.value}`);
      await cellRect(away).click();
    } else {
      await cellRect(at).click();
    }
    await page.waitForSelector("#influencers-filter[hidden]", { state: "attached", timeout: 10000 });
    const widened = await page.$$eval(rows, (trs) => trs.map((t) => t.dataset.value));
    check(widened[0] === inf.value && widened.length >= narrowed.length, "a second click on the cell lists the whole range again");
  }
  check(errors.length === 0, `no page errors or outside requests${errors.length ? ": " + errors.join("; ") : ""}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
