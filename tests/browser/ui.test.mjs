// Browser tests of the web UI against a running `formwork` server:
//   FW_BASE=http://127.0.0.1:8080 FW_PASSWORD=... node tests/browser/ui.test.mjs
// (the e2e test `browser` starts a fresh server and runs this file).
// Data is set up through the public API, then every step goes through the UI.
import fs from "node:fs";
import { test, run, assert, assertEq, allowHttpError, snap, BASE, env } from "./lib.mjs";

const CREDS = {
  tenant: env("FW_TENANT", "demo"),
  email: env("FW_EMAIL", "admin@demo.local"),
  password: env("FW_PASSWORD"),
};
const stamp = Date.now().toString(36);
const APP_NAME = `Sales ${stamp}`;
const ids = {};
let storageState;

async function apiCall(method, path, token, body) {
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function setup() {
  const { token } = await apiCall("POST", "/auth/login", null, CREDS);
  const app = await apiCall("POST", "/apps", token, { name: APP_NAME });
  const form = await apiCall("POST", `/apps/${app.id}/forms`, token, {
    name: "Customers",
    fields: [
      { key: "name", label: "Name", type: "text", required: true, max_length: 50 },
      { key: "email", label: "Email", type: "email" },
      { key: "tier", label: "Tier", type: "select", options: [{ value: "VIP", color: "#d4380d" }, { value: "regular", label: "普通 Regular" }] },
      { key: "total_spent", label: "Total spent", type: "number", min: 0 },
      { key: "joined", label: "Joined", type: "date" },
      { key: "notes", label: "Notes", type: "textarea" },
    ],
  });
  try { await apiCall("POST", "/tags", token, { name: "VIP", color: "#d4380d" }); } catch { /* exists */ }
  const rows = [
    { name: "Ada", email: "ada@example.com", tier: "VIP", total_spent: 1200, joined: "2024-03-01" },
    { name: "Bob", email: "bob@example.com", tier: "regular", total_spent: 80, joined: "2025-01-15" },
    { name: "Cy", email: "cy@example.com", tier: "VIP", total_spent: 5300, joined: "2023-07-09" },
    { name: "Dee", email: "dee@example.com", tier: "regular", total_spent: 640, notes: "prefers phone" },
  ];
  for (const data of rows) {
    const r = await apiCall("POST", `/forms/${form.id}/records`, token, { data });
    if (data.tier === "VIP") await apiCall("POST", `/forms/${form.id}/records/${r.id}/tags/VIP`, token);
  }
  const leads = await apiCall("POST", `/apps/${app.id}/forms`, token, {
    name: "Leads",
    fields: [{ key: "title", label: "Title", type: "text", required: true }, { key: "n", label: "N", type: "number" }],
  });
  await apiCall("POST", `/forms/${leads.id}/records/batch`, token, {
    records: Array.from({ length: 45 }, (_, i) => ({ data: { title: `Lead ${String(i + 1).padStart(2, "0")}`, n: i + 1 } })),
  });
  const tickets = await apiCall("POST", `/apps/${app.id}/forms`, token, {
    name: "Tickets",
    fields: [
      { key: "title", label: "Title", type: "text", required: true },
      { key: "files", label: "Files", type: "attachment" },
      { key: "photos", label: "Photos", type: "image" },
    ],
  });
  ids.tickets = tickets.id;
  const link = await apiCall("POST", `/forms/${form.id}/public-links`, token, { fields: ["name", "email", "notes"] });
  ids.link = link.path;
  ids.token = token;
  ids.app = app.id;
  ids.form = form.id;
  ids.leads = leads.id;
}

const tableUrl = () => `${BASE}/apps/${ids.app}/forms/${ids.form}`;
const names = (page) => page.$$eval("table[data-testid=records] tbody tr td[data-col=name]", (tds) => tds.map((td) => td.textContent.trim()));
async function waitNames(page, expected, message) {
  try {
    await page.waitForFunction((exp) => {
      const got = [...document.querySelectorAll("table[data-testid=records] tbody tr td[data-col=name]")].map((td) => td.textContent.trim());
      return JSON.stringify(got) === JSON.stringify(exp);
    }, expected, { timeout: 5000 });
  } catch {
    assertEq(await names(page), expected, message);
  }
}

test("login", async ({ page, context }) => {
  // First load: measure what crosses the wire and how soon the form is usable.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  let bytes = 0;
  let requests = 0;
  cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; requests += 1; });
  const t0 = Date.now();
  await page.goto(`${BASE}/`);
  await page.waitForURL(/\/login/);
  await page.waitForSelector("form[data-testid=login-form] input[name=password]");
  const wall = Date.now() - t0;
  await page.waitForLoadState("networkidle");
  // The page's own clock: from navigation start to the first rendered screen.
  const interactive = Math.round(await page.evaluate(() => performance.getEntriesByName("fw-first-render")[0]?.startTime ?? Infinity));
  console.log(`  first load: ${requests} requests, ${bytes} bytes transferred, login form rendered ${interactive} ms after navigation start (${wall} ms as the test saw it)`);
  assert(bytes < 300 * 1024, `first load transferred ${bytes} bytes (limit 300 KB)`);
  // The time is reported, not asserted: a loaded machine must not fail the
  // suite (the 1 s target is checked by reading this line, like a benchmark).
  assert(Number.isFinite(interactive), "the page did not mark its first rendered screen");

  await page.fill("input[name=tenant]", CREDS.tenant);
  await page.fill("input[name=email]", CREDS.email);
  allowHttpError(page, 401);
  await page.fill("input[name=password]", "wrong-password");
  await page.click("form[data-testid=login-form] button[type=submit]");
  await page.waitForSelector("[data-testid=login-error]:not([hidden])");
  assert((await page.textContent("[data-testid=login-error]")).includes("wrong"), "login error says the credentials are wrong");
  assertEq(await page.inputValue("input[name=email]"), CREDS.email, "e-mail kept after a failed login");

  await page.fill("input[name=password]", CREDS.password);
  await page.click("form[data-testid=login-form] button[type=submit]");
  await page.waitForSelector("header.topbar");
  await page.waitForSelector(`.cards >> text=${APP_NAME}`);
  assertEq(await page.textContent("[data-testid=tenant]"), "Demo ▾", "tenant switcher names the tenant");
  storageState = await context.storageState();
});

test("language", async ({ page }) => {
  await page.goto(`${BASE}/`);
  await page.waitForSelector("[data-testid=logout]");
  assertEq(await page.textContent("[data-testid=logout]"), "Log out", "English by default for an en browser");
  await page.selectOption("[data-testid=lang]", "zh");
  await page.waitForSelector("[data-testid=logout]:text('退出登录')");
  assertEq(await page.textContent("h1"), "应用", "page title in Chinese");
  await page.reload();
  await page.waitForSelector("[data-testid=logout]");
  assertEq(await page.textContent("[data-testid=logout]"), "退出登录", "the language is remembered");
  assertEq(await page.evaluate(() => localStorage.getItem("fw.lang")), "zh", "stored in localStorage");
  assertEq(await page.getAttribute("html", "lang"), "zh-CN", "document language");
  // Both catalogues hold the same keys.
  const missing = await page.evaluate(async () => {
    const { messages } = await import("/ui/js/messages.js");
    const en = Object.keys(messages.en), zh = Object.keys(messages.zh);
    return [...en.filter((k) => !zh.includes(k)), ...zh.filter((k) => !en.includes(k))];
  });
  assertEq(missing, [], "keys missing from one catalogue");
  // A table page in Chinese, then back to English.
  await page.goto(tableUrl());
  await page.waitForSelector("table[data-testid=records]");
  assertEq((await page.textContent("[data-testid=new-record]")).trim(), "+ 新增数据", "table actions in Chinese");
  await page.selectOption("[data-testid=lang]", "en");
  await page.waitForSelector("[data-testid=new-record]:text('New record')");
}, { get storageState() { return storageState; } });

test("open_table", async ({ page }) => {
  await page.goto(`${BASE}/`);
  await page.selectOption("[data-testid=app-switch]", { label: APP_NAME });
  await page.waitForSelector("nav.sidebar >> text=Customers");
  await page.click("nav.sidebar >> text=Customers");
  await page.waitForSelector("table[data-testid=records]");
  assertEq(new URL(page.url()).pathname, `/apps/${ids.app}/forms/${ids.form}`, "URL of the table");
  assertEq(await names(page), ["Dee", "Cy", "Bob", "Ada"], "newest first");
  const chips = await page.$$eval("tbody tr td[data-col=_tags] .chip", (c) => c.map((x) => x.textContent));
  assertEq(chips, ["VIP", "VIP"], "tag chips in the table");
  // Column chooser: hide Notes and Email; the choice survives a reload.
  await page.click("[data-testid=columns]");
  await page.uncheck("[data-testid=columns-menu] input[data-col=notes]");
  await page.uncheck("[data-testid=columns-menu] input[data-col=email]");
  await page.waitForSelector("th[data-col=email]", { state: "detached" });
  await page.reload();
  await page.waitForSelector("table[data-testid=records]");
  const heads = await page.$$eval("thead th[data-col]", (th) => th.map((x) => x.dataset.col));
  assertEq(heads, ["name", "tier", "total_spent", "joined", "_tags"], "chosen columns");
}, { get storageState() { return storageState; } });

test("dashboard", async ({ page }) => {
  allowHttpError(page, 422);
  await page.goto(`${BASE}/apps/${ids.app}`);
  await page.click("[data-testid=new-dashboard]");
  await page.fill("dialog input[name=name]", "Sales board");
  await page.click("dialog button.primary");
  await page.waitForURL(/\/dashboards\/[\w-]+$/);
  await page.waitForSelector("h1 >> text=Sales board");
  const tip = (sel) => page.textContent(`[data-testid=chart] ${sel} title`);

  // A pie of customers by tier, counted.
  await page.click("[data-testid=add-chart]");
  await page.fill("dialog input[name=title]", "By tier");
  await page.selectOption("dialog select[name=kind]", "pie");
  await page.selectOption("dialog select[name=form_id]", ids.form);
  await page.selectOption("dialog select[name=group_by]", "tier");
  await page.selectOption("dialog select[name=op]", "count");
  await page.click("[data-testid=chart-save]");
  await page.waitForSelector("[data-testid=chart] path.slice[data-key=VIP], [data-testid=chart] circle.slice[data-key=VIP]");
  assert((await tip(".slice[data-key=VIP]")).startsWith("VIP: 2 "), await tip(".slice[data-key=VIP]"));
  // The legend and tips read the option's label, not the stored value.
  assert((await tip(".slice[data-key=regular]")).startsWith("普通 Regular: 2 "), await tip(".slice[data-key=regular]"));
  assert((await page.textContent("[data-testid=chart] svg")).includes("普通 Regular · 2"), "legend by label");

  // Edited into a bar of the amount spent.
  await page.click("[data-testid=chart-edit]");
  await page.selectOption("dialog select[name=kind]", "bar");
  await page.selectOption("dialog select[name=op]", "sum");
  await page.selectOption("dialog select[name=field]", "total_spent");
  await page.click("[data-testid=chart-save]");
  await page.waitForSelector("[data-testid=chart] rect.bar[data-key=VIP]");
  assertEq((await tip("rect.bar[data-key=VIP]")).replace(/[,\s]/g, ""), "VIP:6500", "VIP spend");

  // A number card with a filter made in the builder.
  await page.click("[data-testid=add-chart]");
  await page.fill("dialog input[name=title]", "Big spenders");
  await page.selectOption("dialog select[name=kind]", "number");
  await page.selectOption("dialog select[name=group_by]", "");
  await page.click("dialog details summary");
  await page.click("dialog [data-testid=filter-add]");
  await page.selectOption("dialog [data-testid=filter-row] select[data-role=field]", "total_spent");
  await page.selectOption("dialog [data-testid=filter-row] select[data-role=op]", "gte");
  await page.fill("dialog [data-testid=filter-row] input[data-role=value]", "600");
  await page.click("dialog [data-testid=filter-apply]");
  assertEq(JSON.parse(await page.inputValue("dialog textarea[name=filter]")), { field: "total_spent", op: "gte", value: 600 }, "the builder writes the filter");
  await page.click("[data-testid=chart-save]");
  await page.waitForSelector("[data-chart=chart_2] [data-testid=chart-number]");
  assertEq((await page.textContent("[data-chart=chart_2] [data-testid=chart-number]")).trim(), "3", "customers with 600 or more");

  // The server's refusal shows in the dialog, and nothing is saved.
  await page.click("[data-chart=chart_2] [data-testid=chart-edit]");
  await page.fill("dialog textarea[name=filter]", '{"field":"tier","op":"resembles","value":1}');
  await page.click("[data-testid=chart-save]");
  await page.waitForSelector("dialog [data-testid=chart-error]:not([hidden])");
  assert((await page.textContent("dialog [data-testid=chart-error]")).length > 0, "an error is shown");
  await page.click("dialog [data-testid=chart-cancel]");

  // A ratio with its own denominator, and tiers in a chosen order.
  await page.click("[data-chart=chart_1] [data-testid=chart-edit]");
  await page.selectOption("dialog select[name=op]", "ratio");
  await page.fill("dialog textarea[name=numerator]", '{"field":"total_spent","op":"gte","value":1000}');
  await page.fill("dialog textarea[name=denominator]", '{"field":"total_spent","op":"gte","value":100}');
  await page.fill("dialog input[name=order]", "regular, VIP");
  await page.click("[data-testid=chart-save]");
  await page.waitForSelector("dialog", { state: "detached" });
  const saved = await apiCall("GET", `/dashboards/${page.url().split("/").pop()}`, ids.token);
  const bars = saved.definition.charts.find((c) => c.id === "chart_1");
  assertEq([bars.measure.numerator.value, bars.measure.denominator.value, bars.order], [1000, 100, ["regular", "VIP"]], "ratio and order saved");
  await page.waitForFunction(() => [...document.querySelectorAll("[data-chart=chart_1] rect.bar")].map((r) => r.dataset.key).join() === "regular,VIP");

  // The second chart moves up, and the order is kept across a reload.
  await page.click("[data-chart=chart_2] [data-testid=chart-up]");
  await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=chart]")].map((c) => c.dataset.chart).join() === "chart_2,chart_1");
  await page.reload();
  await page.waitForSelector("[data-chart=chart_2] [data-testid=chart-number]");
  assertEq(await page.$$eval("[data-testid=chart]", (c) => c.map((x) => x.dataset.chart)), ["chart_2", "chart_1"], "two charts, reordered");

  // Negative values (points redeemed, an NPS below zero) draw below the zero
  // line and inside the chart; large numbers keep every digit on the axis.
  const geometry = await page.evaluate(async () => {
    const { drawChart } = await import("/ui/js/charts.js");
    const series = [{ key: "2025-01", value: 5221950 }, { key: "2025-02", value: -730 }, { key: "2025-03", value: -1615 }];
    const out = {};
    for (const kind of ["bar", "line"]) {
      const el = drawChart({ kind, group_by: { field: "d" }, measure: { op: "sum" } }, { series });
      document.body.append(el);
      const box = el.viewBox.baseVal;
      const zero = Number(el.querySelector("line.axis").getAttribute("y1"));
      const shapes = [...el.querySelectorAll(kind === "bar" ? "rect.bar" : "circle.point")].map((r) => r.getBBox());
      const ticks = [...el.querySelectorAll("text.tick")].map((tk) => ({ text: tk.textContent, left: tk.getBBox().x }));
      out[kind] = {
        inside: shapes.every((b) => b.y >= box.y && b.y + b.height <= box.y + box.height),
        below: shapes.slice(1).every((b) => b.y + b.height / 2 > zero),
        grows: kind === "line" || shapes[2].height > shapes[1].height,
        ticks: ticks.filter((tk) => /M|K|0$/.test(tk.text)).map((tk) => tk.text),
        ticksInside: ticks.every((tk) => tk.left >= 0),
      };
      el.remove();
    }
    return out;
  });
  for (const kind of ["bar", "line"]) {
    const g = geometry[kind];
    assert(g.inside && g.below && g.grows && g.ticksInside, `${kind} with negative values: ${JSON.stringify(g)}`);
    assert(g.ticks.includes("5.2M") && g.ticks.includes("0"), `${kind} ticks: ${JSON.stringify(g.ticks)}`);
  }
  await snap(page, "dashboard");
}, { get storageState() { return storageState; } });

test("record_field_error", async ({ page }) => {
  allowHttpError(page, 422);
  await page.goto(tableUrl());
  await page.click("[data-testid=new-record]");
  await page.waitForSelector("form[data-testid=record-form]");
  await page.fill("#f-email", "not-an-email");
  await page.fill("#f-total_spent", "-5");
  await page.selectOption("#f-tier", "VIP");
  await page.fill("#f-notes", "typed before the failed save");
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-error-for=total_spent]:not([hidden])");
  assertEq(await page.textContent("[data-error-for=total_spent]"), "Must be at least 0", "number error at its field");
  assertEq(await page.textContent("[data-error-for=name]"), "Required", "required error at its field");
  assertEq(await page.textContent("[data-error-for=email]"), "Must be an e-mail address", "email error at its field");
  assertEq(await page.getAttribute("#f-total_spent", "aria-invalid"), "true", "invalid input marked");
  assertEq((await page.textContent("[data-testid=form-error]")).trim(), "Some fields are not valid", "summary shown");
  await snap(page, "record_field_error-errors");
  // Nothing typed is lost.
  assertEq(await page.inputValue("#f-total_spent"), "-5", "number kept");
  assertEq(await page.inputValue("#f-email"), "not-an-email", "email kept");
  assertEq(await page.inputValue("#f-tier"), "VIP", "select kept");
  assertEq(await page.inputValue("#f-notes"), "typed before the failed save", "notes kept");
  // A language switch keeps the input too, and shows errors in Chinese on the next save.
  await page.selectOption("[data-testid=lang]", "zh");
  await page.waitForSelector("[data-testid=save]:text('保存')");
  assertEq(await page.inputValue("#f-total_spent"), "-5", "number kept across a language switch");
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-error-for=total_spent]:not([hidden])");
  assertEq(await page.textContent("[data-error-for=total_spent]"), "不能小于 0", "error in Chinese");
  await snap(page, "record_field_error-zh-errors");
  await page.selectOption("[data-testid=lang]", "en");
  await page.waitForSelector("[data-testid=save]:text('Save')");
  // Fix and save.
  await page.fill("#f-name", "Eve");
  await page.fill("#f-email", "eve@example.com");
  await page.fill("#f-total_spent", "300");
  await page.click("[data-testid=save]");
  await page.waitForURL(tableUrl());
  await page.waitForSelector("table[data-testid=records] td[data-col=name] >> text=Eve");
  assertEq((await names(page))[0], "Eve", "new record first");
}, { get storageState() { return storageState; } });

test("filter_and_sort", async ({ page }) => {
  await page.goto(tableUrl());
  await page.waitForSelector("table[data-testid=records]");
  await page.click("[data-testid=filter-toggle]");
  await page.click("[data-testid=filter-add]");
  let row = page.locator("[data-testid=filter-row]").nth(0);
  await row.locator("select[data-role=field]").selectOption("tier");
  await row.locator("select[data-role=op]").selectOption("eq");
  await row.locator("select[data-role=value]").selectOption("VIP");
  await page.click("[data-testid=filter-add]");
  row = page.locator("[data-testid=filter-row]").nth(1);
  await row.locator("select[data-role=field]").selectOption("total_spent");
  await row.locator("select[data-role=op]").selectOption("gte");
  await row.locator("input[data-role=value]").fill("1000");
  const sent = JSON.parse(await page.textContent("[data-testid=filter-json]"));
  assertEq(sent, { and: [{ field: "tier", op: "eq", value: "VIP" }, { field: "total_spent", op: "gte", value: 1000 }] }, "filter language");
  await page.click("[data-testid=filter-apply]");
  await waitNames(page, ["Cy", "Ada"], "VIP and at least 1000");
  assertEq((await page.textContent("[data-testid=filter-toggle]")).trim(), "Filter (2)", "filter count");
  // Sort by clicking the header: ascending, then descending.
  await page.click("th[data-col=total_spent] button.sort");
  await waitNames(page, ["Ada", "Cy"], "ascending by total");
  assertEq(await page.getAttribute("th[data-col=total_spent]", "aria-sort"), "ascending", "aria-sort");
  await page.click("th[data-col=total_spent] button.sort");
  await waitNames(page, ["Cy", "Ada"], "descending by total");
  // Text search within the filter.
  await page.fill("[data-testid=search]", "ada");
  await waitNames(page, ["Ada"], "search narrows");
  await page.fill("[data-testid=search]", "");
  await waitNames(page, ["Cy", "Ada"], "search cleared");
  // A date relative: joined more than 365 days ago (both VIPs joined before 2025).
  row = page.locator("[data-testid=filter-row]").nth(1);
  await row.locator("select[data-role=field]").selectOption("joined");
  await row.locator("select[data-role=op]").selectOption("days_ago");
  await row.locator("input[data-role=value]").fill("365");
  await page.click("[data-testid=filter-apply]");
  await waitNames(page, ["Cy", "Ada"], "joined over a year ago");
  // A calendar period: joined last year, written as the API's in_period.
  await row.locator("select[data-role=op]").selectOption("in_period");
  await row.locator("select[data-role=value2]").selectOption("-1");
  await row.locator("select[data-role=value]").selectOption("year");
  assertEq(JSON.parse(await page.textContent("[data-testid=filter-json]")).and[1],
    { field: "joined", op: "in_period", value: { unit: "year", offset: -1 } }, "in_period condition");
  // Clear the conditions; filter by tag chip instead, sorted by name.
  await page.click("[data-testid=filter-panel] >> text=Clear");
  await page.click("th[data-col=name] button.sort");
  await waitNames(page, ["Ada", "Bob", "Cy", "Dee", "Eve"], "all, by name");
  await page.click(".tag-bar button:text('VIP')");
  await waitNames(page, ["Ada", "Cy"], "tag VIP");
  // An invalid filter shows the server's error instead of a table.
  await page.click(".tag-bar button:text('VIP')");
  await waitNames(page, ["Ada", "Bob", "Cy", "Dee", "Eve"], "tag filter off");
}, { get storageState() { return storageState; } });

test("pagination", async ({ page }) => {
  await page.goto(`${BASE}/apps/${ids.app}/forms/${ids.leads}`);
  await page.waitForSelector("table[data-testid=records]");
  await page.selectOption(".page-size select", "20");
  await page.click("th[data-col=n] button.sort");
  const ns = () => page.$$eval("tbody td[data-col=n]", (td) => td.map((x) => Number(x.textContent)));
  const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 20 && document.querySelector("tbody td[data-col=n]")?.textContent === "1");
  assertEq(await ns(), range(1, 20), "page 1");
  await page.click("[data-testid=next]");
  await page.waitForSelector("text=Page 2");
  await page.waitForFunction(() => document.querySelector("tbody td[data-col=n]")?.textContent === "21");
  assertEq(await ns(), range(21, 40), "page 2");
  await page.click("[data-testid=next]");
  await page.waitForFunction(() => document.querySelector("tbody td[data-col=n]")?.textContent === "41");
  assertEq(await ns(), range(41, 45), "page 3");
  assert(await page.isDisabled("[data-testid=next]"), "no page after the last");
  await page.click("[data-testid=prev]");
  await page.waitForFunction(() => document.querySelector("tbody td[data-col=n]")?.textContent === "21");
  assertEq(await ns(), range(21, 40), "back to page 2");
  await page.click("[data-testid=count]");
  await page.waitForSelector("[data-testid=table-status]:text('45 records in all')");
}, { get storageState() { return storageState; } });

test("edit_and_delete", async ({ page }) => {
  await page.goto(tableUrl());
  await page.click("table[data-testid=records] td[data-col=name] >> text=Bob");
  await page.waitForSelector("form[data-testid=record-form]");
  assertEq(await page.inputValue("#f-name"), "Bob", "record loaded");
  await page.fill("#f-total_spent", "95");
  await page.click("[data-testid=save]");
  await page.waitForURL(tableUrl());
  await page.waitForSelector("td[data-col=total_spent] >> text=95");
  await page.click("table[data-testid=records] td[data-col=name] >> text=Bob");
  await page.waitForSelector("[data-testid=delete]");
  await page.click("[data-testid=delete]");
  await page.click("[data-testid=confirm-delete]");
  await page.waitForURL(tableUrl());
  await page.waitForSelector("table[data-testid=records]");
  await page.waitForFunction(() => ![...document.querySelectorAll("td[data-col=name]")].some((td) => td.textContent === "Bob"));
  // The recycle bin holds Bob; restoring brings him back, with his history.
  await page.click("[data-testid=bin-toggle]");
  await page.waitForSelector("td[data-col=name] >> text=Bob");
  await page.click("[data-testid=restore]");
  await page.waitForSelector("[data-testid=table-empty]");
  await page.click("[data-testid=bin-toggle]");
  await page.click("table[data-testid=records] td[data-col=name] >> text=Bob");
  await page.click(".history-box summary");
  await page.waitForSelector("[data-testid=history] >> text=Total spent: 80 → 95");
  await page.fill(".tags-box input", "callback");
  await page.click(".tags-box button[type=submit]");
  await page.waitForSelector("[data-testid=record-tags] >> text=callback");
}, { get storageState() { return storageState; } });

// A 2×1 PNG: the server sniffs it as an image whatever it is called.
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000020000000108020000007b40e8dd0000000f49444154789c63f8cfc0c0f09f010007ff01ff017f89a70000000049454e44ae426082",
  "hex",
);

test("attachments", async ({ page }) => {
  allowHttpError(page, 422);
  const url = `${BASE}/apps/${ids.app}/forms/${ids.tickets}`;
  await page.goto(`${url}/new`);
  await page.waitForSelector("form[data-testid=record-form]");
  await page.fill("#f-title", "Broken screen");
  // HTML passed off as a picture is refused by the image field, at the field.
  await page.setInputFiles("#f-photos", { name: "cat.png", mimeType: "image/png", buffer: Buffer.from("<html><script>alert(1)</script>") });
  await page.waitForSelector("[data-field=photos] .file-list li");
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-error-for=photos]:not([hidden])");
  assert((await page.textContent("[data-error-for=photos]")).length > 0, "the image field names the fault");
  await page.click("[data-field=photos] .file-list li button");
  await page.setInputFiles("#f-photos", { name: "screen.png", mimeType: "image/png", buffer: PNG });
  await page.setInputFiles("#f-files", { name: "报修单.txt", mimeType: "text/plain", buffer: Buffer.from("screen cracked\n") });
  await page.waitForSelector("[data-field=files] .file-list li >> text=报修单.txt");
  await page.waitForSelector("[data-field=photos] .file-list li img.thumb");
  await page.click("[data-testid=save]");
  await page.waitForURL(url);
  // The table shows the image (its bytes load with the session) and the attachment's name.
  await page.waitForSelector("td[data-col=files] >> text=报修单.txt");
  await page.waitForFunction(() => {
    const img = document.querySelector("td[data-col=photos] img.thumb");
    return img && img.complete && img.naturalWidth === 2;
  }, null, { timeout: 5000 });
  await snap(page, "attachments-table");
  // Opening the record shows its files; removing one and saving keeps the other.
  await page.click("table[data-testid=records] td[data-col=title] >> text=Broken screen");
  await page.waitForSelector("[data-field=files] .file-list li >> text=报修单.txt");
  await page.click("[data-field=files] .file-list li button");
  await page.click("[data-testid=save]");
  await page.waitForURL(url);
  await page.waitForSelector("td[data-col=title] >> text=Broken screen");
  assertEq(await page.textContent("td[data-col=files]"), "", "attachment removed");
  assert(await page.$("td[data-col=photos] img.thumb"), "image kept");
}, { get storageState() { return storageState; } });

test("batch_tag_and_delete", async ({ page }) => {
  await page.goto(tableUrl());
  await page.waitForSelector("table[data-testid=records]");
  for (const name of ["Bob", "Cy"]) {
    await page.locator("tbody tr", { has: page.locator("td[data-col=name]", { hasText: new RegExp(`^${name}$`) }) }).locator("td.sel input").check();
  }
  await page.waitForSelector("[data-testid=batch-bar] >> text=2 selected");
  await page.fill("[data-testid=batch-tag-name]", "follow-up");
  await page.click("[data-testid=batch-tag]");
  await page.waitForSelector(".tag-bar button:text('follow-up')");
  await page.click(".tag-bar button:text('follow-up')");
  await waitNames(page, ["Cy", "Bob"], "tagged records");
  await page.check("[data-testid=select-page]");
  await page.click("[data-testid=batch-delete]");
  await page.click("[data-testid=confirm-delete]");
  await page.waitForSelector("[data-testid=table-empty]");
  await page.click(".tag-bar button:text('follow-up')");
  await waitNames(page, ["Eve", "Dee", "Ada"], "the rest remain");
}, { get storageState() { return storageState; } });

test("phone_width", async ({ page }) => {
  await page.goto(`${tableUrl()}/new`);
  await page.waitForSelector("form[data-testid=record-form]");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `record form overflows a phone screen by ${overflow}px`);
  assert(!(await page.isVisible("nav.sidebar")), "side navigation folded away");
  await page.click(".nav-toggle");
  await page.waitForSelector("nav.sidebar >> text=Customers");
  await page.click(".nav-toggle");
  await page.fill("#f-name", "Fay");
  await page.fill("#f-total_spent", "12");
  await page.click("[data-testid=save]");
  await page.waitForURL(tableUrl());
  await page.waitForSelector("td[data-col=name] >> text=Fay");
}, { viewport: { width: 390, height: 844 }, mobile: true, get storageState() { return storageState; } });

test("designer", async ({ page }) => {
  await page.goto(`${BASE}/apps/${ids.app}/new-form`);
  await page.waitForSelector("[data-testid=canvas]");
  await page.fill("[data-testid=form-name]", "Orders");
  // The palette is the server's registry: every field type, nothing else.
  const registry = await apiCall("GET", "/kinds", ids.token);
  const offered = await page.$$eval(".palette-item", (b) => b.map((x) => x.dataset.kind));
  assertEq([...offered].sort(), [...registry.field_types].sort(), "the palette offers every registered field type");
  // Drag two kinds from the palette, click one (keyboard path), reorder with the buttons.
  await page.dragAndDrop(".palette-item[data-kind=text]", "[data-testid=canvas]");
  await page.dragAndDrop(".palette-item[data-kind=number]", "[data-testid=canvas]");
  await page.focus(".palette-item[data-kind=select]");
  await page.keyboard.press("Enter");
  const kinds = () => page.$$eval("[data-testid=canvas] li.field-card", (li) => li.map((x) => x.dataset.key.replace(/_\d+$/, "")));
  assertEq(await kinds(), ["text", "number", "select"], "three fields on the canvas");
  await page.click("[data-testid=canvas] li[data-index='2'] button[aria-label='Move up']");
  assertEq(await kinds(), ["text", "select", "number"], "moved up");
  // Drag the number field to the top.
  await page.dragAndDrop("[data-testid=canvas] li[data-index='2']", "[data-testid=canvas] li[data-index='0']", { targetPosition: { x: 10, y: 2 } });
  assertEq(await kinds(), ["number", "text", "select"], "dragged to the top");
  await page.click("[data-testid=canvas] li[data-index='1'] .handle");
  await page.fill(".props input[data-prop=label]", "Product");
  await page.fill(".props input[data-prop=key]", "product");
  await page.check(".props input[data-prop=required]");
  await page.click("[data-testid=save-form]");
  await page.waitForURL(/\/forms\/[\w-]+$/);
  await page.waitForSelector("[data-testid=table-empty]");
  assertEq(await page.textContent("h1"), "Orders", "the new form's table");
  await page.waitForSelector("nav.sidebar >> text=Orders");
}, { get storageState() { return storageState; } });

test("designer_versions", async ({ page }) => {
  // Remove a field that records hold data in: the designer says how many, and keeps the data.
  await page.goto(`${tableUrl()}/design`);
  await page.waitForSelector("[data-testid=canvas] li[data-key=notes]");
  await page.click("[data-testid=canvas] li[data-key=notes] button[aria-label=Remove]");
  await page.waitForSelector("[data-testid=remove-warning]");
  assert((await page.textContent("[data-testid=remove-warning]")).startsWith("2 records hold data"), "count of records with notes");
  await page.click("[data-testid=confirm-remove]");
  await page.waitForSelector("[data-testid=canvas] li[data-key=notes]", { state: "detached" });
  await page.click("[data-testid=save-form]");
  await page.waitForURL(tableUrl());
  await page.waitForSelector("table[data-testid=records]");
  assert(!(await page.$("th[data-col=notes]")), "notes column gone with the field");
  // The version list loads version 1 back; saving makes it version 3, and the data is there.
  await page.goto(`${tableUrl()}/design`);
  await page.click("[data-testid=versions] summary");
  await page.click("[data-testid=versions] button[data-version='1']");
  await page.waitForSelector("[data-testid=canvas] li[data-key=notes]");
  await page.click("[data-testid=save-form]");
  await page.waitForSelector("text=Saved as version 3");
  await page.waitForSelector("td[data-col=notes] >> text=prefers phone");
}, { get storageState() { return storageState; } });

test("template_gallery", async ({ page }) => {
  await page.goto(`${BASE}/`);
  await page.click("[data-testid=gallery]");
  await page.waitForURL(`${BASE}/templates`);
  const card = "li.card[data-template=crm]";
  await page.waitForSelector(card);
  assert((await page.textContent(card)).includes("17"), "the CRM card counts its forms");
  await page.click("[data-testid=install-crm]");
  await page.fill("dialog input[name=name]", `CRM ${stamp}`);
  await page.uncheck("dialog input[name=sample_data]");
  await page.click("[data-testid=install-confirm]");
  // The queued install is followed to its end, then the new app opens.
  await page.waitForURL(/\/apps\/[\w-]+$/, { timeout: 120000 });
  await page.waitForSelector(`h1 >> text=CRM ${stamp}`);
  assertEq(await page.$$eval("[data-testid=forms] > li.card", (li) => li.length), 17, "the app's 17 forms");
  assertEq(await page.$$eval("[data-testid=dashboards] > li.card", (li) => li.length), 4, "the CRM's 4 dashboards");
  await page.waitForSelector("nav.sidebar >> text=客户 Customers");
  const href = await page.getAttribute("[data-testid=export-app]", "href");
  assert(/^\/api\/v1\/apps\/[\w-]+\/export$/.test(href), `export link ${href}`);
  const exported = await page.evaluate(async (u) => (await fetch(u)).json(), href);
  assertEq(exported.files["manifest.json"].name, `CRM ${stamp}`, "the export names the app");
  // A shipped dashboard opens and every chart answers (no sample data: empty).
  await page.click("[data-testid=dashboards] a >> nth=0");
  await page.waitForSelector("[data-testid=chart]");
  assertEq(await page.$$eval("[data-testid=chart] .field-error", (e) => e.length), 0, "no chart fails");

  // A member field picks from the tenant's members and shows their names.
  const me = await apiCall("GET", "/me", ids.token);
  await page.click("nav.sidebar >> text=客户 Customers");
  await page.waitForSelector("h1 >> text=客户 Customers");
  const customers = page.url().split("?")[0];
  await page.goto(`${customers}/new`);
  await page.waitForSelector("select#f-owner");
  const offered = await page.$$eval("select#f-owner option", (o) => o.map((x) => [x.value, x.textContent]));
  assert(offered.some(([v, text]) => v === me.user_id && text.includes(me.email)), `owner choices ${JSON.stringify(offered)}`);
  await page.fill("#f-name", `Owned ${stamp}`);
  await page.selectOption("#f-type", "B2B");
  await page.selectOption("select#f-owner", me.user_id);
  await page.click("[data-testid=save]");
  await page.waitForURL(customers);
  const cell = `tr:has-text("Owned ${stamp}") td[data-col=owner]`;
  await page.waitForSelector(cell);
  const shown = (await page.textContent(cell)).trim();
  assert(shown === (me.display_name || me.email) && !shown.includes(me.user_id), `owner cell ${shown}`);
}, { get storageState() { return storageState; } });

test("public_link", async ({ page }) => {
  // A visitor who never signed in fills the link's fields only.
  allowHttpError(page, 422);
  await page.goto(`${BASE}${ids.link}`);
  await page.waitForSelector("form[data-testid=public-form]");
  assertEq(await page.textContent("h1"), "Customers", "the form's name");
  const shown = await page.$$eval("form[data-testid=public-form] [data-row]", (rows) => rows.map((r) => r.dataset.row));
  assertEq(shown, ["name", "email", "notes"], "the link's fields, in form order");
  await page.fill("#f-email", "not-an-email");
  await page.click("[data-testid=public-submit]");
  await page.waitForSelector("[data-error-for=name]:not([hidden])");
  assertEq(await page.textContent("[data-error-for=name]"), "Required", "required error at its field");
  assertEq(await page.textContent("[data-error-for=email]"), "Must be an e-mail address", "email error at its field");
  await page.fill("#f-name", "Visitor");
  await page.fill("#f-email", "visitor@example.com");
  await page.fill("#f-notes", "found you online");
  await page.click("[data-testid=public-submit]");
  await page.waitForSelector("[data-testid=public-done]");
  const q = await apiCall("POST", `/forms/${ids.form}/records/query`, ids.token, {
    filter: { field: "name", op: "eq", value: "Visitor" }, total: true,
  });
  assertEq(q.total, 1, "one record created");
  assertEq(q.records[0].data.notes, "found you online", "with what was typed");
  assertEq(q.records[0].data.tier, undefined, "and nothing else");
  // The page offers another submission.
  await page.click("[data-testid=public-done] button");
  await page.waitForSelector("form[data-testid=public-form]");
  assertEq(await page.inputValue("#f-name"), "", "an empty form again");
});

test("share_dialog", async ({ page }) => {
  await page.goto(tableUrl());
  await page.click("[data-testid=share]");
  await page.waitForSelector("[data-testid=share-list] li.share-item");
  const url = await page.inputValue("[data-testid=share-list] li.share-item input.share-url");
  assertEq(url, `${BASE}${ids.link}`, "the link's address to copy");
  await page.click("[data-testid=share-new]");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=share-list] li.share-item").length === 2);
  await snap(page, "share_dialog-two-links");
}, { get storageState() { return storageState; } });

// Last: a rule run adds a customer, which the table steps above do not expect.
test("rule_editor", async ({ page }) => {
  allowHttpError(page, 422);
  await page.goto(`${BASE}/apps/${ids.app}`);
  await page.click("[data-testid=new-rule]");
  await page.waitForURL(/\/rules\/new$/);
  await page.fill("[data-testid=rule-name]", "VIP welcome");
  await page.selectOption("[data-testid=rule-form]", ids.form);
  const triggerKinds = (await apiCall("GET", "/kinds", ids.token)).trigger_kinds;
  const triggerOffered = await page.$$eval("[data-testid=trigger-kind] option", (o) => o.map((x) => x.value));
  assertEq([...triggerOffered].sort(), [...triggerKinds].sort(), "the trigger picker offers every registered trigger kind");
  await page.selectOption("[data-testid=trigger-kind]", "record_created");
  await page.fill("[data-testid=code-condition]", 'record.tier == "VIP"');
  // A compile error is shown at its line, and nothing is saved.
  await page.fill("[data-testid=code-script]", 'log("hi");\nlet x = ;\n');
  await page.click("[data-testid=rule-save]");
  await page.waitForSelector("[data-testid=code-error-script]:not([hidden])");
  assertEq(await page.$$eval(".code-line-error", (l) => l.map((x) => x.dataset.line)), ["2"], "the error's line is marked");
  assert((await page.textContent("[data-testid=code-error-script]")).length > 5, "and explained");
  assertEq(page.url().endsWith("/rules/new"), true, "still unsaved");

  await page.fill("[data-testid=code-script]", 'log(`welcome ${record.name}`);\ntag(record.id, "VIP");');
  await page.click("[data-testid=rule-save]");
  await page.waitForURL(/\/rules\/[0-9a-f-]{36}$/);
  await page.waitForSelector("[data-testid=test-run]");

  // Test-run over a picked record: the condition holds, one effect, the log line.
  await page.waitForSelector("[data-testid=test-record] option >> text=Ada", { state: "attached" });
  await page.selectOption("[data-testid=test-record]", { label: "Ada" });
  await page.click("[data-testid=test-run]");
  await page.waitForSelector("[data-testid=test-logs]");
  assertEq((await page.textContent("[data-testid=test-logs]")).trim(), "welcome Ada", "the script's log line");
  assertEq(await page.$$eval("[data-testid=test-effects] li", (li) => li.length), 1, "one effect (the tag)");
  // Over typed values the condition fails.
  await page.selectOption("[data-testid=test-record]", "");
  await page.fill("[data-testid=test-values]", '{"name": "Zed", "tier": "regular"}');
  await page.click("[data-testid=test-run]");
  await page.waitForSelector("[data-testid=test-condition] >> text=/does not hold|不成立/");

  // A real run shows in the run log and, as the last run, in the app's rule list.
  await apiCall("POST", `/forms/${ids.form}/records`, ids.token, { data: { name: "Eve", tier: "VIP" } });
  let runs = 0;
  for (let i = 0; i < 40 && runs === 0; i += 1) {
    await page.waitForTimeout(250);
    await page.reload();
    await page.waitForSelector("[data-testid=runs]");
    runs = await page.$$eval("[data-testid=runs] tbody tr", (r) => r.length);
  }
  assertEq(runs, 1, "one run for Eve");
  assertEq(await page.getAttribute("[data-testid=runs] [data-outcome]", "data-outcome"), "succeeded", "it succeeded");

  // Schedule: the next five firings come from the server; a bad expression is explained.
  await page.selectOption("[data-testid=trigger-kind]", "schedule");
  await page.fill("[data-testid=cron]", "30 9 * * 1-5");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=cron-preview] li[data-time]").length === 5);
  const times = await page.$$eval("[data-testid=cron-preview] li[data-time]", (li) => li.map((x) => Date.parse(x.dataset.time)));
  assert(times.every((x, i) => i === 0 || x > times[i - 1]), "earliest first");
  assert(times.every((x) => new Date(x).getUTCMinutes() % 30 === 0), "on the half hour");
  await page.fill("[data-testid=cron]", "61 * * * *");
  await page.waitForSelector("[data-testid=cron-preview] .field-error");

  // Date field: 3 days before `joined` at 08:30, kept across a reload.
  await page.selectOption("[data-testid=trigger-kind]", "date_field");
  await page.selectOption("[data-testid=date-field]", "joined");
  await page.fill("[data-testid=offset-days]", "3");
  await page.selectOption("[data-testid=offset-dir]", "before");
  await page.fill("[data-testid=at]", "08:30");
  await page.click("[data-testid=rule-save]");
  await page.waitForSelector(".toast >> text=/version 2|版本 2/");
  await page.reload();
  await page.waitForSelector("[data-testid=date-field]");
  assertEq(await page.inputValue("[data-testid=offset-days]"), "3", "days");
  assertEq(await page.inputValue("[data-testid=offset-dir]"), "before", "before");
  assertEq(await page.inputValue("[data-testid=at]"), "08:30", "time");
  await snap(page, "rule_editor-form");

  // The list: last run, and the enabled switch turns the rule off.
  await page.goto(`${BASE}/apps/${ids.app}`);
  await page.waitForSelector("[data-testid=rules] [data-testid=rule-last-run] [data-outcome=succeeded]");
  await page.uncheck("[data-testid=rules] [data-testid=rule-enabled]");
  await page.waitForSelector(".toast >> text=/turned off|已停用/");
  const rules = await apiCall("GET", `/apps/${ids.app}/rules`, ids.token);
  assertEq(rules.map((r) => [r.name, r.enabled]), [["VIP welcome", false]], "saved as disabled");
}, { get storageState() { return storageState; } });

/** A form for the approval steps: a title, an amount, a note and a field a step hides. */
const spendForm = (name) => apiCall("POST", `/apps/${ids.app}/forms`, ids.token, {
  name,
  fields: [
    { key: "title", label: "Title", type: "text", required: true },
    { key: "amount", label: "Amount", type: "number" },
    { key: "note", label: "Note", type: "textarea" },
    { key: "secret", label: "Secret", type: "text" },
  ],
});

/** A form of expenses with a one-step approval by whoever submits. */
async function approvalForm(name) {
  const form = await spendForm(name);
  await apiCall("POST", `/forms/${form.id}/workflows`, ids.token, {
    name: "Expense approval",
    nodes: [
      { id: "start", kind: "start" },
      { id: "check", kind: "approve", name: "Check the expense", assignees: { initiator: true }, mode: "any",
        fields: { title: "read", amount: "read", note: "edit", secret: "hidden" } },
      { id: "end", kind: "end" },
    ],
    edges: [{ from: "start", to: "check" }, { from: "check", to: "end" }],
  });
  return form;
}

test("inbox", async ({ page }) => {
  const form = await approvalForm("Expenses");
  const rec = await apiCall("POST", `/forms/${form.id}/records`, ids.token,
    { data: { title: "Taxi", amount: 42, note: "", secret: "s3cret" } });

  await page.goto(`${BASE}/`);
  // The inbox link counts the tasks waiting (the new one among them).
  const waiting = (await apiCall("GET", "/tasks?limit=1", ids.token)).todo_count;
  assert(waiting >= 1, `a task waits: ${waiting}`);
  await page.waitForFunction((n) => {
    const b = document.querySelector("[data-testid=inbox-count]");
    return b && !b.hidden && b.textContent === String(n);
  }, waiting);
  await page.click("[data-testid=inbox]");
  await page.waitForURL(/\/inbox$/);
  assertEq((await page.textContent("[data-testid=tasks] li [data-testid=task-form]")).trim(), "· Expenses", "the task names its form");
  await page.click("[data-testid=tasks] a >> text=Check the expense");
  await page.waitForSelector("[data-testid=task-record]");
  // The step's permissions: read-only as text, editable as an input, hidden not there at all.
  assertEq(await page.$$eval("[data-testid=task-record] [data-row]", (r) => r.map((x) => `${x.dataset.row}:${x.dataset.perm ?? "edit"}`)),
    ["title:read", "amount:read", "note:edit"], "rows by permission");
  assertEq(await page.textContent("body").then((b) => b.includes("s3cret")), false, "the hidden value is not on the page");
  assertEq(await page.$$eval("[data-testid=task-actions] button", (b) => b.map((x) => x.dataset.action).includes("approve")), true, "approve offered");
  await page.fill("[data-testid=task-record] [name=note]", "receipt attached");
  await page.fill("[data-testid=task-comment]", "fine by me");
  await snap(page, "inbox-task");
  await page.click("[data-testid=task-actions] button[data-action=approve]");
  await page.waitForURL(/\/inbox$/);
  // One fewer waits now; none shows no badge.
  await page.waitForFunction((n) => {
    const b = document.querySelector("[data-testid=inbox-count]");
    return b && (n === 0 ? b.hidden : !b.hidden && b.textContent === String(n));
  }, waiting - 1);
  const after = await apiCall("GET", `/forms/${form.id}/records/${rec.id}`, ids.token);
  assertEq(after.data.note, "receipt attached", "the editable field was saved with the approval");

  // Done: the task and the flow's history as a timeline.
  await page.click(".tabs a[data-box=done]");
  await page.waitForURL(/box=done/);
  await page.click("[data-testid=tasks] a >> text=Check the expense");
  await page.waitForSelector("[data-testid=timeline] li");
  assertEq(await page.getAttribute("[data-testid=flow-status]", "class"), "badge flow-approved", "the flow is approved");
  const comments = await page.$$eval("[data-testid=timeline] blockquote", (q) => q.map((x) => x.textContent));
  assert(comments.includes("fine by me"), `the comment is in the history: ${comments}`);
  const actors = await page.$$eval("[data-testid=tl-actor]", (a) => a.map((x) => x.textContent));
  assert(actors.some((a) => a.includes("admin")), `who acted, by name: ${actors}`);
  assertEq(await page.$$eval("[data-testid=task-actions]", (a) => a.length), 0, "nothing left to do");
}, { get storageState() { return storageState; } });

test("phone_approval", async ({ page }) => {
  // An approval on a phone, opened from a link to the task itself.
  const form = await approvalForm("Trips");
  const rec = await apiCall("POST", `/forms/${form.id}/records`, ids.token,
    { data: { title: "Train", amount: 19, note: "", secret: "x" } });
  const tasks = await apiCall("GET", "/tasks?limit=100", ids.token);
  const task = tasks.tasks.find((x) => x.record_id === rec.id);
  assert(task, "the record's task waits");
  await page.goto(`${BASE}/inbox/${task.id}`);
  await page.waitForSelector("[data-testid=task-record]");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `the task overflows a phone screen by ${overflow}px`);
  const approve = "[data-testid=task-actions] button[data-action=approve]";
  const box = await page.locator(approve).boundingBox();
  assert(box && box.x >= 0 && box.x + box.width <= 390, `approve fits the screen: ${JSON.stringify(box)}`);
  await page.fill("[data-testid=task-record] [name=note]", "on the phone");
  await page.click(approve);
  await page.waitForURL(/\/inbox$/);
  const after = await apiCall("GET", `/forms/${form.id}/records/${rec.id}`, ids.token);
  assertEq(after.data.note, "on the phone", "saved with the approval");
  const flow = await apiCall("GET", `/forms/${form.id}/records/${rec.id}/workflow`, ids.token);
  assertEq(flow.status ?? flow.instance?.status, "approved", "the flow is approved");
}, { viewport: { width: 390, height: 844 }, mobile: true, get storageState() { return storageState; } });

test("flow_editor", async ({ page }) => {
  allowHttpError(page, 422);
  const form = await spendForm("Purchases");
  await page.goto(`${BASE}/apps/${ids.app}`);
  await page.click(`[data-testid=forms] li:has-text("Purchases") [data-testid=form-flows]`);
  await page.click("[data-testid=new-flow]");
  await page.waitForURL(/\/flows\/new$/);
  await page.fill("[data-testid=flow-name]", "Purchase approval");
  // The first step: named, all must approve, a permission per field, a timeout.
  await page.click("[data-node=approve_1] .flow-node");
  await page.fill("[data-testid=node-name]", "Manager");
  await page.selectOption("[data-testid=node-mode]", "all");
  await page.check("[data-testid=perm-grid] tr[data-field=note] input[value=edit]");
  await page.check("[data-testid=perm-grid] tr[data-field=secret] input[value=hidden]");
  await page.fill("[data-testid=timeout-hours]", "24");
  // A condition after it, with a branch for large amounts.
  await page.selectOption("[data-node=approve_1] [data-testid=add-kind]", "condition");
  await page.click("[data-node=approve_1] [data-testid=add-after]");
  await page.click("[data-testid=add-branch]");
  await page.fill("[data-testid=node-name]", "Finance");
  await page.uncheck("[data-testid=node-panel] input[name=initiator]");
  await page.click("[data-node=condition_1] .flow-node");
  await page.fill("[data-testid=branches] .branch:not(:has(input[data-testid=branch-default]:checked)) [data-testid=branch-when]", "record.amount > 1000");
  assertEq(await page.$$eval("[data-testid=flow-chart] > li", (l) => l.map((x) => x.dataset.node)),
    ["start", "approve_1", "condition_1", "approve_2", "end"], "the chart from the start down");

  // The server refuses a step without assignees, and says so at that node.
  await page.click("[data-testid=flow-save]");
  await page.waitForSelector("[data-node=approve_2] .flow-node.invalid [data-testid=node-error]");
  assertEq(page.url().endsWith("/flows/new"), true, "nothing saved");
  await page.check("[data-testid=node-panel] input[name=initiator]");
  await page.click("[data-testid=flow-save]");
  await page.waitForURL(/\/flows\/[0-9a-f-]{36}$/);
  const id = page.url().split("/").pop();
  let flow = await apiCall("GET", `/workflows/${id}`, ids.token);
  const mgr = flow.definition.nodes.find((n) => n.id === "approve_1");
  assertEq([mgr.name, mgr.mode, mgr.fields.note, mgr.fields.secret, mgr.timeout.hours], ["Manager", "all", "edit", "hidden", 24], "the step as configured");
  const fromCond = flow.definition.edges.filter((e) => e.from === "condition_1").map((e) => [e.to, e.when ?? null, !!e.default]);
  assertEq(fromCond.sort(), [["approve_2", "record.amount > 1000", false], ["end", null, true]], "the branches");
  await snap(page, "flow_editor");

  // Removing the branch step rejoins its edges; a new version is saved.
  await page.click("[data-node=approve_2] .flow-node");
  await page.click("[data-testid=remove-node]");
  await page.click("[data-testid=flow-save]");
  await page.waitForSelector(".toast >> text=/version 2|版本 2/");
  flow = await apiCall("GET", `/workflows/${id}`, ids.token);
  assertEq(flow.definition.nodes.map((n) => n.id), ["start", "approve_1", "end", "condition_1"], "the step is gone");
}, { get storageState() { return storageState; } });

test("import_export", async ({ page }) => {
  const before = (await apiCall("POST", `/forms/${ids.form}/records/query`, ids.token, { limit: 100 })).records;
  await page.goto(tableUrl());
  await page.waitForSelector("table[data-testid=records] td[data-col=name]:has-text('Ada')");
  // Export the current view: the search narrows it to one record.
  await page.fill("[data-testid=search]", "ada");
  await waitNames(page, ["Ada"], "searched");
  await page.click("[data-testid=export]");
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-menu] [data-format=csv]")]);
  assertEq(csv.suggestedFilename(), "Customers.csv", "export file name");
  const text = fs.readFileSync(await csv.path(), "utf8").replace(/^\uFEFF/, "");
  const lines = text.trim().split(/\r?\n/);
  assert(lines[0].startsWith("Name,Email,Tier"), `export header: ${lines[0]}`);
  assertEq(lines.length, 2, `one record exported: ${text}`);
  assert(lines[1].startsWith("Ada,ada@example.com,VIP"), `export row: ${lines[1]}`);
  await page.click("[data-testid=export]");
  const [xlsx] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-menu] [data-format=xlsx]")]);
  assertEq(xlsx.suggestedFilename(), "Customers.xlsx", "xlsx file name");
  assertEq(fs.readFileSync(await xlsx.path()).subarray(0, 2).toString(), "PK", "an xlsx file is a zip");

  // Import: the first file has a bad row, so the check lists it and nothing can be imported.
  await page.click("[data-testid=import]");
  const bad = "Name,Email,Total spent,Remark\nZed,zed@example.com,10,hello\nYan,not-an-email,20,\n";
  await page.setInputFiles("[data-testid=import-file]", { name: "new.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
  await page.waitForSelector("[data-testid=import-mapping]");
  assert((await page.textContent("[data-testid=import-file-info]")).includes("2"), "row count shown");
  const mapped = () => page.$$eval("[data-testid=import-mapping] select", (ss) => ss.map((s) => s.value));
  assertEq(await mapped(), ["name", "email", "total_spent", ""], "guessed mapping");
  await page.selectOption("[data-testid=import-mapping] select[data-column='3']", "notes");
  await page.click("[data-testid=import-check]");
  await page.waitForSelector("[data-testid=import-errors]");
  const errRows = await page.$$eval("[data-testid=import-errors] tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assertEq(errRows.length, 1, "one bad row");
  assertEq(errRows[0].slice(0, 3), ["3", "Email", "not-an-email"], "the bad row, column and value");
  assert(await page.isDisabled("[data-testid=import-run]"), "no import while a row is wrong");
  const [report] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=import-error-report]")]);
  const reportText = fs.readFileSync(await report.path(), "utf8");
  assert(reportText.includes("not-an-email"), `error report: ${reportText}`);

  // The fixed file also updates Ada, matched on her e-mail.
  const good = "Name,Email,Total spent,Remark\nZed,zed@example.com,10,hello\nYan,yan@example.com,20,\nAda,ada@example.com,1300,renewed\n";
  await page.setInputFiles("[data-testid=import-file]", { name: "new.csv", mimeType: "text/csv", buffer: Buffer.from(good) });
  await page.waitForFunction(() => document.querySelector("[data-testid=import-file-info]")?.textContent.includes("3"));
  await page.selectOption("[data-testid=import-mapping] select[data-column='3']", "notes");
  await page.selectOption("[data-testid=import-mode]", "upsert");
  await page.selectOption("[data-testid=import-key]", "email");
  await page.click("[data-testid=import-check]");
  await page.waitForFunction(() => /2\b.*1\b/.test(document.querySelector("[data-testid=import-summary]")?.textContent || ""));
  assertEq(await page.$$("[data-testid=import-errors]"), [], "no errors");
  await page.click("[data-testid=import-run]");
  await page.waitForSelector("[data-testid=import-dialog]", { state: "detached", timeout: 20_000 });
  await page.fill("[data-testid=search]", "");
  await page.waitForSelector("table[data-testid=records] td[data-col=name]:has-text('Zed')");
  const all = await apiCall("POST", `/forms/${ids.form}/records/query`, ids.token, { limit: 100 });
  const byName = Object.fromEntries(all.records.map((r) => [r.data.name, r.data]));
  assertEq(all.records.length, before.length + 2, "two records added");
  assert(byName.Yan && byName.Zed, "Yan and Zed are in");
  assertEq([byName.Ada.total_spent, byName.Ada.notes], [1300, "renewed"], "Ada updated");
  assertEq(byName.Zed.notes, "hello", "the remark column went to notes");
}, { get storageState() { return storageState; } });

await setup();
await run();
