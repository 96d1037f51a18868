// A small runner for the browser tests: Debian's chromium through
// playwright-core, one fresh browser context per test, a screenshot of
// every test's final state, and a failure on any console error or
// uncaught exception in the page.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`environment variable ${name} is not set`);
  return v;
};

export const BASE = env("FW_BASE");
export const ARTIFACTS = env("FW_ARTIFACTS", path.resolve("target/browser-artifacts"));
const CHROMIUM = env("FW_CHROMIUM", "/usr/bin/chromium");

// Flags: no sandbox (CI runs as root), and none of chromium's background
// traffic, which the closed network would refuse.
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
];

export class AssertionError extends Error {}

export function assert(cond, message) {
  if (!cond) throw new AssertionError(message);
}

export function assertEq(actual, expected, message) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${message}: expected ${e}, got ${a}`);
}

const tests = [];
const allowed = new WeakMap();

/**
 * Lets the page answer `status` without failing the test: chromium logs
 * every 4xx as "Failed to load resource", and a test that provokes one on
 * purpose (a wrong password, an invalid record) declares it.
 */
export function allowHttpError(page, status) {
  allowed.get(page)?.add(status);
}
/** Registers a test: fn({ page, context, browser }) */
export function test(name, fn, opts = {}) {
  tests.push({ name, fn, opts });
}

/** Runs every registered test in order; exits 1 when any failed. */
export async function run() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  let failed = 0;
  const only = process.env.FW_ONLY;
  for (const t of tests) {
    if (only && !t.name.includes(only)) continue;
    const started = Date.now();
    const context = await browser.newContext({
      viewport: t.opts.viewport ?? { width: 1280, height: 800 },
      locale: t.opts.locale ?? "en-US",
      isMobile: !!t.opts.mobile,
      hasTouch: !!t.opts.mobile,
      storageState: t.opts.storageState,
    });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const problems = [];
    const statuses = new Set();
    allowed.set(page, statuses);
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text());
      if (m && statuses.has(Number(m[1]))) return;
      problems.push(`console error: ${msg.text()} (${msg.location().url || "page"})`);
    });
    page.on("pageerror", (err) => problems.push(`uncaught: ${err.message}`));
    let error = null;
    try {
      await t.fn({ page, context, browser });
      // Let late console errors (from pending requests) arrive.
      await page.waitForTimeout(100);
    } catch (e) {
      error = e;
    }
    const shot = path.join(ARTIFACTS, `${t.name.replace(/[^\w-]+/g, "_")}.png`);
    try { await page.screenshot({ path: shot, fullPage: true }); } catch { /* page gone */ }
    if (!error && problems.length) error = new AssertionError(problems.join("\n"));
    const ms = Date.now() - started;
    if (error) {
      failed += 1;
      console.log(`not ok - ${t.name} (${ms} ms)\n  ${String(error.stack || error).split("\n").join("\n  ")}`);
      if (problems.length) console.log(`  page problems:\n  ${problems.join("\n  ")}`);
    } else {
      console.log(`ok - ${t.name} (${ms} ms)`);
    }
    console.log(`  screenshot: ${shot}`);
    await context.close();
  }
  await browser.close();
  if (failed) {
    console.log(`${failed} browser test(s) failed`);
    process.exit(1);
  }
}

/** An extra screenshot of an intermediate state, beside the final one. */
export async function snap(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Logs in through the login page. */
export async function login(page, { tenant, email, password }) {
  await page.goto(`${BASE}/login`);
  await page.fill("input[name=tenant]", tenant);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("form[data-testid=login-form] button[type=submit]");
  await page.waitForSelector("header.topbar");
}
