// Issue 14's layout checks in headless Chromium against a running d4-web: a failed login
// keeps the typed e-mail; every main page at 1366 px and 600 px wide has no horizontal
// overflow, every nav item on screen and no two boxes overlapping (measured from element
// bounding boxes, not by eye); the sensor list sorts by a clicked column. Screenshots of
// each page and width go to D4_SHOTS. Configured by env like tutorial.mjs:
//   D4_URL, D4_USER, D4_PASSWORD, D4_NEW_PASSWORD, D4_SENSOR, D4_SHOTS, CHROMIUM.
// Exits non-zero on the first failed expectation.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const env = (k, d) => process.env[k] ?? d;
const URL = env("D4_URL");
const SHOTS = env("D4_SHOTS", "shots");
const SENSOR = env("D4_SENSOR");
fs.mkdirSync(SHOTS, { recursive: true });

function expect(cond, what) {
  if (!cond) throw new Error("expectation failed: " + what);
  console.log("ok - " + what);
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log("screenshot " + file);
}

// Runs in the page: every layout fault found, as text ([] when the layout holds).
function layoutFaults() {
  const faults = [];
  const vw = document.documentElement.clientWidth;
  const box = (e) => e.getBoundingClientRect();
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "");
  const shown = (e) => { const r = box(e); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden"; };
  if (document.documentElement.scrollWidth > vw + 1) {
    faults.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
  }
  document.querySelectorAll("nav.top a, nav.top button").forEach((a) => {
    const r = box(a);
    if (!shown(a) || r.left < -1 || r.right > vw + 1) faults.push(`nav item off screen: ${name(a)} ${r.left}-${r.right}`);
  });
  // Siblings in the layout containers must not overlap.
  const containers = [document.querySelector("main"), document.querySelector("nav.top"),
    ...document.querySelectorAll(".grid, .card, .card > .head, .card > .body, .row, .field, .pager")];
  for (const c of containers) {
    if (!c) continue;
    const kids = [...c.children].filter((k) => shown(k) && k.tagName !== "DIALOG" &&
      !["absolute", "fixed"].includes(getComputedStyle(k).position));
    for (let i = 0; i < kids.length; i++) {
      for (let j = i + 1; j < kids.length; j++) {
        const a = box(kids[i]), b = box(kids[j]);
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) faults.push(`overlap in ${name(c)}: ${name(kids[i])} and ${name(kids[j])} (${w.toFixed(0)}x${h.toFixed(0)})`);
      }
    }
  }
  // A card clips its content: nothing may be cut off at its right edge.
  document.querySelectorAll(".card").forEach((c) => {
    if (c.scrollWidth > c.clientWidth + 1) faults.push(`content cut off in ${name(c)}: ${c.scrollWidth} > ${c.clientWidth}`);
  });
  return faults;
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "d4-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  ignoreHTTPSErrors: true,
  viewport: { width: 1366, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("401")) errors.push(m.text()); });
page.on("dialog", (d) => d.accept());
try {
  // 1. A wrong password keeps the typed e-mail.
  await page.goto(URL + "/login");
  await page.fill("#username", env("D4_USER"));
  await page.fill("#password", "not-the-password-1");
  await Promise.all([page.waitForNavigation(), page.click("#sign-in")]);
  expect(await page.isVisible("#login-error"), "login error shown");
  expect(await page.inputValue("#username") === env("D4_USER"), "e-mail kept after the failed login");
  expect(await page.inputValue("#password") === "", "password not kept");
  await shot(page, "login-failed-1366");
  await page.setViewportSize({ width: 600, height: 900 });
  expect((await page.evaluate(layoutFaults)).length === 0, "login page at 600 px: " + (await page.evaluate(layoutFaults)).join("; "));
  await shot(page, "login-failed-600");
  await page.setViewportSize({ width: 1366, height: 900 });

  // 2. Log in (the retyped password only), forced change.
  await page.fill("#password", env("D4_PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click("#sign-in")]);
  expect(page.url().endsWith("/change_password"), "signed in with the kept e-mail");
  await page.fill("#password1", env("D4_NEW_PASSWORD"));
  await page.fill("#password2", env("D4_NEW_PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click("#submit-password")]);

  // 3. Every main page at both widths: no overflow, no overlap, all nav items on screen.
  const pages = [["dashboard", "/"], ["sensors-status", "/sensors_status"],
    ["sensor", "/uuid_management?uuid=" + SENSOR], ["server-management", "/server_management"],
    ["registered", "/server/registered_sensor"], ["pending", "/server/pending_sensor"],
    ["profile", "/settings/edit_profile"]];
  for (const width of [1366, 600]) {
    await page.setViewportSize({ width, height: 900 });
    for (const [name, url] of pages) {
      await page.goto(URL + url);
      const faults = await page.evaluate(layoutFaults);
      await shot(page, `${name}-${width}`);
      expect(faults.length === 0, `${name} at ${width} px: ` + faults.slice(0, 5).join("; "));
      if (name === "server-management") {
        const fits = await page.$eval("#analyzer_uuid", (i) => i.value.length === 36 && i.scrollWidth <= i.clientWidth);
        expect(fits, `the whole queue uuid is visible at ${width} px`);
      }
    }
  }
  await page.setViewportSize({ width: 1366, height: 900 });

  // 4. The dashboard shows the monitoring banner and the labelled top-N.
  await page.goto(URL + "/");
  expect(await page.isVisible("#monitoring-banner"), "monitoring banner for the sensor down");
  expect((await page.textContent("#uuid-top-caption")).includes("top 30 of"), "top-N labelled");
  expect(await page.isVisible("#all-sensors-link"), "link to the rest of the sensors");

  // 5. Sorting: Last seen ascending, then descending; the whois box stays hidden.
  await page.goto(URL + "/sensors_status?per_page=25");
  const col = async (i) => page.$$eval("#sensors-table tbody tr", (rows, i) =>
    rows.map((r) => r.cells[i].textContent.trim()), i);
  const sorted = (v, dir) => v.every((x, k) => k === 0 || (dir > 0 ? v[k - 1] <= x : v[k - 1] >= x));
  const before = await col(2);
  expect(before.length === 25, "25 rows per page");
  await page.click("#sensors-table th:nth-child(3)");
  const asc = await col(2);
  expect(sorted(asc, 1) && !sorted(before, 1), "sorted by last seen, ascending");
  expect(await page.getAttribute("#sensors-table th:nth-child(3)", "aria-sort") === "ascending", "header marked ascending");
  await page.click("#sensors-table th:nth-child(3)");
  expect(sorted(await col(2), -1), "sorted by last seen, descending");
  await page.click("#sensors-table th:nth-child(1)");
  expect(sorted(await col(0), 1), "sorted by uuid");
  await shot(page, "sensors-sorted-1366");
  await page.selectOption("#per-page", "50");
  await page.waitForURL(/per_page=50/);
  expect((await col(0)).length === 50, "page size choice applies");

  await page.goto(URL + "/uuid_management?uuid=" + SENSOR);
  expect(!(await page.isVisible("#whois-box")), "no empty whois box");
  const heights = await page.$eval("#types-table", (t) =>
    [t.getBoundingClientRect().height, t.nextElementSibling.getBoundingClientRect().height]);
  expect(heights[0] < heights[1] / 2, `types table not stretched to the chart (${heights})`);
  expect(errors.length === 0, "no JavaScript or CSP errors: " + errors.slice(0, 3).join("; "));
} catch (e) {
  await shot(page, "failure").catch(() => {});
  console.error(String(e && e.stack || e));
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
