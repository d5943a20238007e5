// Walks the D4 tutorial workflow in headless Chromium against a running d4-web and
// saves a screenshot of each page. Driven by web/tests/it/browser.rs, configured by env:
//   D4_URL, D4_USER, D4_PASSWORD, D4_NEW_PASSWORD, D4_SENSOR, D4_STORE_PORT,
//   D4_SHOTS (screenshot dir), CHROMIUM (default /usr/bin/chromium).
// Exits non-zero on the first failed expectation.
import { chromium } from "playwright-core";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const env = (k, d) => process.env[k] ?? d;
const URL = env("D4_URL");
const SHOTS = env("D4_SHOTS", "shots");
const SENSOR = env("D4_SENSOR");
const PORT = Number(env("D4_STORE_PORT"));
fs.mkdirSync(SHOTS, { recursive: true });

// Minimal RESP client: one command on a given db (the "sensor" and "analyzer" sides).
function redis(db, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(PORT, "127.0.0.1");
    const enc = (a) => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join("");
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString();
      const lines = buf.split("\r\n");
      if (lines.length >= 3) { s.end(); resolve(lines[1]); }
    });
    s.on("error", reject);
    s.write(enc(["SELECT", db]) + enc(args));
  });
}

// Polls `get` until `ok(value)` (no page-side eval, so the page's CSP stays strict).
async function until(get, ok, what, ms = 10000) {
  const end = Date.now() + ms;
  let v;
  while (Date.now() < end) {
    v = await get();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for " + what + " (last value: " + v + ")");
}

function expect(cond, what) {
  if (!cond) throw new Error("expectation failed: " + what);
  console.log("ok - " + what);
}

let n = 0;
async function shot(page, name) {
  n += 1;
  const file = path.join(SHOTS, `${String(n).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log("screenshot " + file);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "d4-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  ignoreHTTPSErrors: true,
  viewport: { width: 1400, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("dialog", (d) => d.accept());
try {
  // 1. Log in with the generated password, forced password change.
  await page.goto(URL + "/login");
  expect(await page.isVisible("text=Please sign in"), "login page");
  await shot(page, "login");
  await page.fill("#username", env("D4_USER"));
  await page.fill("#password", env("D4_PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click("#sign-in")]);
  expect(page.url().endsWith("/change_password"), "forced to change the password");
  await shot(page, "change-password");
  await page.fill("#password1", env("D4_NEW_PASSWORD"));
  await page.fill("#password2", env("D4_NEW_PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click("#submit-password")]);

  // 2. Landing page: packets per sensor and per type.
  expect(new globalThis.URL(page.url()).pathname === "/", "landing page after the change");
  expect(await page.locator("#chart-uuid svg").count() === 1, "sensor chart drawn");
  expect((await page.textContent("#chart-uuid")).includes(SENSOR.slice(0, 20)), "sensor in today's chart");
  expect((await page.textContent("#chart-type")).includes("passivedns"), "type 8 in today's chart");
  await shot(page, "dashboard");

  // 3. Sensors status, then connected only.
  await Promise.all([page.waitForNavigation(), page.click("#nav-sensor")]);
  expect((await page.textContent("#sensors-table")).includes(SENSOR), "sensor listed");
  await shot(page, "sensors-status");
  await Promise.all([page.waitForNavigation(), page.click("#active-toggle")]);
  expect(page.url().includes("active_connection_filter=True"), "active connection filter on");
  expect((await page.textContent("#sensors-table")).includes("Connected"), "sensor connected");
  await shot(page, "sensors-connected");

  // 4. Sensor detail.
  await Promise.all([page.waitForNavigation(), page.click(`a:has-text("${SENSOR}")`)]);
  expect((await page.textContent("#sensor-uuid")) === SENSOR, "sensor detail page");
  expect(await page.isVisible("#kick"), "kick button for a connected sensor");
  await shot(page, "sensor-detail");

  // 5. Server management: add a type-8 queue with a generated uuid and a description.
  await Promise.all([page.waitForNavigation(), page.click("#nav-server")]);
  const before = await page.inputValue("#analyzer_uuid");
  await page.click("#generate-uuid");
  await until(() => page.inputValue("#analyzer_uuid"), (v) => v && v !== before, "a generated uuid");
  const q = await page.inputValue("#analyzer_uuid");
  await page.fill("#analyzer_type", "8");
  await page.fill("#analyzer_description", "passive DNS analyzer");
  await shot(page, "server-management");
  await Promise.all([page.waitForNavigation(), page.click("#add-analyzer")]);
  expect(page.url().endsWith("#" + q), "redirected to the new queue");
  const row = page.locator(`tr[id="${q}"]`);
  expect((await row.textContent()).includes("passive DNS analyzer"), "queue row with description");
  expect((await row.locator(".queue-length").textContent()).trim() === "0", "new queue is empty");
  await shot(page, "queue-created");

  // 6. Sensors send: the length goes up; the sample shows the lines.
  for (let i = 0; i < 3; i++) {
    await redis(2, "LPUSH", `analyzer:8:${q}`, `1700000000.0||10.0.0.${i}||10.0.0.53||IN||example${i}.test.||A||192.0.2.${i}||300||1`);
  }
  const badge = () => page.locator(`tr[id="${q}"] .queue-length`).textContent();
  await until(badge, (t) => t.trim() === "3", "the live length to reach 3");
  console.log("ok - length 3 after sends (live refresh)");
  await page.click(`tr[id="${q}"] [data-sample]`);
  await until(() => page.textContent("#sample-pre"), (t) => t.includes("example"), "the queue sample");
  await shot(page, "queue-sample");
  await page.click("[data-close-dialog]");

  // 7. The analyzer consumes: back to zero.
  for (let i = 0; i < 3; i++) await redis(2, "RPOP", `analyzer:8:${q}`);
  await until(badge, (t) => t.trim() === "0", "the live length to drop to 0");
  await page.reload();
  expect((await badge()).trim() === "0", "length 0 after the analyzer popped");
  await shot(page, "queue-drained");

  // 8. Queue editor, registration, profile.
  await Promise.all([page.waitForNavigation(), page.click(`tr[id="${q}"] a.mono`)]);
  expect((await page.textContent("h1, .head")).length > 0, "queue editor");
  await shot(page, "queue-editor");
  await page.goto(URL + "/server/pending_sensor");
  await shot(page, "pending-sensors");
  await page.goto(URL + "/settings/edit_profile");
  expect((await page.textContent("#api-key")).trim().length === 41, "API key shown");
  await shot(page, "profile");
  await Promise.all([page.waitForNavigation(), page.click("#logout")]);
  expect(page.url().endsWith("/login"), "logged out");
  expect(errors.length === 0, "no JavaScript or CSP errors: " + errors.slice(0, 3).join("; "));
  console.log("QUEUE " + q);
} catch (e) {
  await shot(page, "failure").catch(() => {});
  console.error(String(e && e.stack || e));
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
