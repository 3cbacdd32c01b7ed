// Opens the built-in web UI of a running `tidewatch serve` in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core; nothing is downloaded), checks the job list and
// the swimlane, clicks the highest-scoring partition cell through to its single-metric view,
// and saves screenshots.
//
// Usage: [TIDEWATCH_API_TOKEN=T] node ui.mjs BASE_URL JOB_ID [OUTDIR] [--expect-critical]
//   (with a token, also checks that the page asks for it and then works with it)
//   e.g. node ui.mjs http://127.0.0.1:9280 status_code_rate ../../docs --expect-critical
// Exits non-zero with a message on the first failed check.

import fs from "node:fs";
import { chromium } from "playwright-core";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const expectCritical = process.argv.includes("--expect-critical");
const [base = "http://127.0.0.1:9280", job, outDir = "out"] = args;
if (!job) {
  console.error("usage: node ui.mjs BASE_URL JOB_ID [OUTDIR] [--expect-critical]");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

function check(cond, msg) {
  if (!cond) throw new Error(msg);
  console.log(`ok ${msg}`);
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

  await page.waitForSelector("#swimlane svg rect.cell", { timeout: 15000 });
  const cells = await page.$$eval("#swimlane rect.cell", (rs) =>
    rs.map((r) => ({ lane: r.dataset.lane, score: Number(r.dataset.score), fill: r.getAttribute("fill") })));
  const partitionCells = cells.filter((c) => c.lane !== "overall");
  check(partitionCells.length > 0, `swimlane has ${partitionCells.length} partition cells`);
  const top = partitionCells.reduce((a, c) => (c.score > a.score ? c : a));
  if (expectCritical) {
    check(top.score >= 75, `swimlane shows a critical cell (max ${top.score} in ${top.lane})`);
    check(top.fill.toLowerCase() === "#fe5050", "critical cells are Elastic red #fe5050");
  }
  const rows = await page.locator("#anomalies tbody tr").count();
  check(rows > 0, `top anomalies table has ${rows} rows`);
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: `${outDir}/ui-swimlane.png`, fullPage: false });

  // Click the highest-scoring partition cell.
  await page.locator(`#swimlane rect.cell[data-lane="${top.lane}"][data-score="${top.score}"]`).first().click();
  await page.waitForSelector("#single:not([hidden]) #single-chart svg", { timeout: 15000 });
  const title = await page.textContent("#single-title");
  check(title.includes(top.lane), `single-metric view opened for ${top.lane}`);
  const anomalies = await page.locator("#single-chart circle.anomaly").count();
  check(anomalies > 0, `single-metric view marks ${anomalies} anomalies`);
  const hasActual = await page.locator("#single-chart polyline.actual").count();
  const hasBand = await page.locator("#single-chart polygon.band-model_lower").count();
  console.log(`${hasActual ? "ok" : "note"} actual line ${hasActual ? "drawn" : "absent (no model_plot)"}; model band ${hasBand ? "drawn" : "absent"}`);
  await page.locator("#single").screenshot({ path: `${outDir}/ui-single-metric.png` });
  check(errors.length === 0, `no page errors or outside requests${errors.length ? ": " + errors.join("; ") : ""}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
