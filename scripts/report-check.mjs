// Opens a run report in headless Chromium (Debian's `chromium`) at a laptop and a phone width,
// and checks what a reader would see: no console error or exception, no request for anything
// outside the file, no sideways scrolling on the phone, and every plot visibly drawn (the
// pixel variance and the share of non-white pixels of each plot's region of a full-page
// screenshot). Saves the screenshots. Needs Node 20+ (its WebSocket) and chromium:
//
//   node --experimental-websocket scripts/report-check.mjs REPORT.html [SCREENSHOT_PREFIX]
//
// Prints one line per plot and exits 1 on any failed check. Not part of the test command
// (it needs a browser); the Rust tests check the file itself (no URL, every section present).

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [report, prefix = "report"] = process.argv.slice(2);
if (!report) {
  console.error("usage: report-check.mjs REPORT.html [SCREENSHOT_PREFIX]");
  process.exit(2);
}
const url = "file://" + resolve(report);
// A plot region with less than this variance of luminance (0-255 scale) or share of non-white
// pixels is blank to the eye.
const MIN_VARIANCE = 100;
const MIN_INK = 0.005;

/** Starts chromium with a DevTools port; resolves with its process and the port's base URL. */
function launch() {
  const profile = mkdtempSync(join(tmpdir(), "report-check-"));
  const chrome = spawn("chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
    "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank",
  ]);
  return new Promise((ok, fail) => {
    let err = "";
    chrome.stderr.on("data", (d) => {
      err += d;
      const m = err.match(/DevTools listening on ws:\/\/([^/]+)\//);
      if (m) ok({ chrome, base: `http://${m[1]}` });
    });
    chrome.on("exit", (code) => fail(new Error(`chromium exited (${code}): ${err}`)));
  });
}

/** A DevTools session on one page: `send(method, params)` and the events seen so far. */
async function connect(base) {
  const pages = await (await fetch(`${base}/json/list`)).json();
  const page = pages.find((p) => p.type === "page");
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((ok) => ws.addEventListener("open", ok, { once: true }));
  let id = 0;
  const waiting = new Map();
  const events = [];
  const listeners = [];
  ws.addEventListener("message", (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && waiting.has(msg.id)) {
      const { ok, fail } = waiting.get(msg.id);
      waiting.delete(msg.id);
      msg.error ? fail(new Error(JSON.stringify(msg.error))) : ok(msg.result);
    } else if (msg.method) {
      events.push(msg);
      listeners.forEach((l) => l(msg));
    }
  });
  const send = (method, params = {}) =>
    new Promise((ok, fail) => {
      waiting.set(++id, { ok, fail });
      ws.send(JSON.stringify({ id, method, params }));
    });
  const next = (method) => new Promise((ok) => listeners.push((m) => m.method === method && ok(m)));
  return { send, events, next, close: () => ws.close() };
}

/** Runs `fn` in the page and returns its (awaited) value. */
async function evaluate(s, fn, ...args) {
  const expression = `(${fn})(...${JSON.stringify(args)})`;
  const r = await s.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
  if (r.exceptionDetails) throw new Error(JSON.stringify(r.exceptionDetails));
  return r.result.value;
}

/** The plots' regions (page pixels) and titles, and whether the page scrolls sideways. */
function layout() {
  const plots = [...document.querySelectorAll(".plot")].map((p) => {
    const r = p.getBoundingClientRect();
    const title = (p.querySelector("text")?.textContent ?? "").trim();
    return { title, x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height };
  });
  const sections = [...document.querySelectorAll("section")].map((s) => s.id);
  const overflow = document.documentElement.scrollWidth > innerWidth + 1;
  return { plots, sections, overflow, height: document.documentElement.scrollHeight };
}

/** Luminance variance and non-white share of each region of the PNG `png` (base64). */
async function ink(png, regions) {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const c = canvas.getContext("2d");
  c.drawImage(img, 0, 0);
  return regions.map((r) => {
    const d = c.getImageData(Math.round(r.x), Math.round(r.y), Math.max(1, Math.round(r.width)), Math.max(1, Math.round(r.height))).data;
    let n = 0, sum = 0, sq = 0, inked = 0;
    for (let i = 0; i < d.length; i += 4) {
      const l = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
      n++; sum += l; sq += l * l;
      if (l < 235) inked++;
    }
    const mean = sum / n;
    return { variance: sq / n - mean * mean, ink: inked / n };
  });
}

async function check(s, width, mobile, file) {
  await s.send("Emulation.setDeviceMetricsOverride", { width, height: 900, deviceScaleFactor: 1, mobile });
  const loaded = s.next("Page.loadEventFired");
  await s.send("Page.navigate", { url });
  await loaded;
  const page = await evaluate(s, layout);
  const shot = await s.send("Page.captureScreenshot", {
    format: "png",
    captureBeyondViewport: true,
    clip: { x: 0, y: 0, width, height: page.height, scale: 1 },
  });
  writeFileSync(file, Buffer.from(shot.data, "base64"));
  const measured = await evaluate(s, ink, shot.data, page.plots);
  const failures = [];
  page.plots.forEach((p, i) => {
    const m = measured[i];
    const blank = m.variance < MIN_VARIANCE || m.ink < MIN_INK;
    if (blank) failures.push(`plot "${p.title}" looks blank`);
    console.log(`${width}px  ${blank ? "BLANK" : "ok   "}  variance ${m.variance.toFixed(0).padStart(5)}  ink ${(m.ink * 100).toFixed(1).padStart(5)}%  ${p.title}`);
  });
  if (page.overflow) failures.push(`the page scrolls sideways at ${width}px`);
  console.log(`${width}px: ${page.plots.length} plots in sections ${page.sections.join(", ")}; screenshot ${file}`);
  return failures;
}

const { chrome, base } = await launch();
const failures = [];
try {
  const s = await connect(base);
  await s.send("Page.enable");
  await s.send("Runtime.enable");
  await s.send("Log.enable");
  await s.send("Network.enable");
  failures.push(...(await check(s, 1280, false, `${prefix}-laptop.png`)));
  failures.push(...(await check(s, 390, true, `${prefix}-phone.png`)));
  for (const e of s.events) {
    const p = e.params;
    if (e.method === "Runtime.consoleAPICalled" && p.type === "error") failures.push(`console error: ${JSON.stringify(p.args)}`);
    if (e.method === "Runtime.exceptionThrown") failures.push(`exception: ${p.exceptionDetails.text}`);
    if (e.method === "Log.entryAdded" && p.entry.level === "error") failures.push(`log error: ${p.entry.text}`);
    if (e.method === "Network.requestWillBeSent" && !/^(file|data):/.test(p.request.url)) failures.push(`request to ${p.request.url}`);
  }
  s.close();
} finally {
  chrome.kill();
}
const bytes = readFileSync(report).length;
console.log(`${report}: ${bytes} bytes; ${failures.length ? failures.length + " problem(s)" : "no problems"}`);
failures.forEach((f) => console.log("  " + f));
process.exit(failures.length ? 1 : 0);
