// Issue 13's search page of pdns-cof-server in headless Chromium: search a wildcard, check
// the results table and each row's timeline (bar geometry from element boxes, and the bar's
// pixels in a screenshot decoded in the browser), follow pivot links (address -> the names
// that pointed at it, domain -> everything under it, CNAME target -> who points at it),
// filter by type. Screenshots go to D4_SHOTS; the Rust test checks them again.
// Configured by env: D4_URL (http://host:port), D4_USER, D4_PASSWORD, D4_SHOTS, CHROMIUM.
// Exits non-zero on the first failed expectation.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const env = (k, d) => process.env[k] ?? d;
const URL = env("D4_URL");
const SHOTS = env("D4_SHOTS", "shots");
fs.mkdirSync(SHOTS, { recursive: true });

function expect(cond, what) {
  if (!cond) throw new Error("expectation failed: " + what);
  console.log("ok - " + what);
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log("screenshot " + file);
  return file;
}

// Decodes a PNG in a blank page: its size, how many of its pixels have the timeline bar's
// colour (#2f855a) and how many distinct colours it holds.
async function pixels(context, png) {
  const p = await context.newPage();
  try {
    return await p.evaluate(async (b64) => {
      const img = new Image();
      img.src = "data:image/png;base64," + b64;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let bar = 0;
      const colours = new Set();
      for (let i = 0; i < d.length; i += 4) {
        const [r, gr, b] = [d[i], d[i + 1], d[i + 2]];
        if (Math.abs(r - 47) < 16 && Math.abs(gr - 133) < 16 && Math.abs(b - 85) < 16) bar++;
        colours.add((r << 16) | (gr << 8) | b);
      }
      return { width: c.width, height: c.height, bar, colours: colours.size };
    }, fs.readFileSync(png).toString("base64"));
  } finally {
    await p.close();
  }
}

// The rows of the results table: name, type, data and the timeline bar's box.
async function rows(page) {
  return page.$$eval("table.results tbody tr", (trs) => trs.map((tr) => {
    const td = tr.querySelectorAll("td");
    const bar = tr.querySelector("svg.timeline rect.bar");
    const track = tr.querySelector("svg.timeline").getBoundingClientRect();
    const b = bar ? bar.getBoundingClientRect() : null;
    return {
      name: td[0].querySelector("a.name").textContent,
      type: td[1].textContent,
      data: td[2].firstChild ? td[2].firstChild.textContent : "",
      bar: b ? { left: b.left - track.left, width: b.width, height: b.height } : null,
    };
  }));
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "d4-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  viewport: { width: 1366, height: 900 },
  httpCredentials: { username: env("D4_USER"), password: env("D4_PASSWORD") },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
try {
  // 1. The empty page: a search box and filters.
  await page.goto(URL + "/search");
  expect(await page.isVisible("input[name=q]"), "search box shown");
  expect(await page.isVisible("select[name=rrtype]"), "type filter shown");
  expect(await page.isVisible("input[name=after]") && await page.isVisible("input[name=before]"), "time fence shown");
  await shot(page, "01-empty");

  // 2. A wildcard: every name under example.com, newest first, each with a timeline.
  await page.fill("input[name=q]", "*.example.com");
  await Promise.all([page.waitForNavigation(), page.click("form.search button")]);
  let r = await rows(page);
  expect(JSON.stringify(r.map((x) => x.name)) === JSON.stringify([
    "www.example.com", "cdn.example.com", "www.example.com", "a.b.example.com", "mail.example.com", "old.example.com",
  ]), "wildcard rows newest first: " + r.map((x) => x.name).join(" "));
  expect(r.every((x) => x.bar && x.bar.width >= 3 && x.bar.height > 5), "every row has a timeline bar");
  // www.example.com 192.0.2.10 was seen from the page's second-earliest to its latest time:
  // a long bar ending at the right; old.example.com once at the earliest: a short bar at 0.
  const long = r[0].bar, oldest = r[5].bar;
  expect(long.width > 180 && long.left + long.width > 235, `long bar spans the scale (${JSON.stringify(long)})`);
  expect(oldest.left < 1 && oldest.width < 5, `single sighting at the start (${JSON.stringify(oldest)})`);
  expect(r[3].bar.left > oldest.left && r[3].bar.left < long.left + long.width, "bars placed by time");
  const full = await shot(page, "02-wildcard");
  const fp = await pixels(context, full);
  expect(fp.width === 1366 && fp.colours > 20, `wildcard screenshot not blank (${fp.width}x${fp.height}, ${fp.colours} colours)`);
  expect(fp.bar > 6 * 30, `timeline bars visible in the screenshot (${fp.bar} bar pixels)`);
  const barShot = path.join(SHOTS, "03-timeline.png");
  await page.locator("table.results tbody tr").first().locator("svg.timeline").screenshot({ path: barShot });
  const bp = await pixels(context, barShot);
  expect(bp.bar > bp.width * 0.7 * 8, `first row's bar covers its timeline (${bp.bar} of ${bp.width}x${bp.height})`);

  // 3. Pivot: click an address -> the names that pointed at it.
  await Promise.all([page.waitForNavigation(), page.locator("table.results a.ip", { hasText: "192.0.2.10" }).first().click()]);
  expect(await page.inputValue("input[name=q]") === "192.0.2.10", "address pivot fills the search box");
  r = await rows(page);
  expect(r.length === 1 && r[0].name === "www.example.com" && r[0].data === "192.0.2.10", "names that pointed at 192.0.2.10");
  await shot(page, "04-ip-pivot");

  // 4. Pivot: the domain link of a name -> everything under its parent.
  await Promise.all([page.waitForNavigation(), page.locator("table.results a.domain").first().click()]);
  expect(await page.inputValue("input[name=q]") === "*.example.com", "domain pivot searches *.example.com");
  expect((await rows(page)).length === 6, "everything under example.com again");

  // 5. Pivot: who points at a CNAME target.
  await Promise.all([page.waitForNavigation(), page.locator("table.results a.rdata").first().click()]);
  r = await rows(page);
  expect(r.length === 1 && r[0].name === "cdn.example.com" && r[0].type === "CNAME", "names pointing at www.example.org");
  await shot(page, "05-rdata-pivot");

  // 6. Type filter.
  await page.goto(URL + "/search?q=" + encodeURIComponent("*.example.com"));
  await page.selectOption("select[name=rrtype]", "AAAA");
  await Promise.all([page.waitForNavigation(), page.click("form.search button")]);
  r = await rows(page);
  expect(r.length === 1 && r[0].name === "a.b.example.com", "AAAA filter keeps a.b.example.com");
  await shot(page, "06-filter");

  // 7. A refused search says why.
  await page.goto(URL + "/search?q=" + encodeURIComponent("*.com"));
  expect((await page.textContent("#error")).includes("two labels"), "too broad wildcard explained");
  expect(errors.length === 0, "no page errors: " + errors.join("; "));
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
