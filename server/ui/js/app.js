// The shell: session, router, top bar (tenant switcher, app switcher,
// language, user menu) and the side navigation of the current app's forms.
// Views are functions (ctx) => Node; the router renders one into <main>.
import { api, setUnauthorizedHandler } from "./api.js";
import { forgetMembers } from "./fields.js";
import { h, mount, toast } from "./dom.js";
import { t, languages, currentLang, setLang, onLangChange } from "./i18n.js";
import { loginView } from "./views/login.js";
import { homeView, appView } from "./views/home.js";
import { tableView } from "./views/table.js";
import { recordView } from "./views/record.js";
import { designerView } from "./views/designer.js";

// Loaded on first use, to keep the first screen small.
const templatesView = async (ctx) => (await import("./views/templates.js")).templatesView(ctx);
const dashboardView = async (ctx) => (await import("./views/dashboard.js")).dashboardView(ctx);
const ruleView = async (ctx) => (await import("./views/rules.js")).ruleView(ctx);
const inboxView = async (ctx) => (await import("./views/inbox.js")).inboxView(ctx);
const taskView = async (ctx) => (await import("./views/inbox.js")).taskView(ctx);
const flowsView = async (ctx) => (await import("./views/flows.js")).flowsView(ctx);
const flowView = async (ctx) => (await import("./views/flows.js")).flowView(ctx);
const publicView = async (ctx) => (await import("./views/public.js")).publicView(ctx);

const TENANTS_KEY = "fw.tenants";
// Set at login, cleared at logout or on a 401: lets a signed-out visit go
// straight to the login page without asking the API (the cookie is HttpOnly).
export const SIGNED_IN_KEY = "fw.signed_in";

/** What the shell knows: the caller, the apps, the forms of the open app. */
export const session = {
  me: null,
  apps: null,
  forms: new Map(), // app id -> forms
};

const routes = [
  [/^\/login$/, loginView, { bare: true }],
  [/^\/f\/([\w-]+)$/, publicView, { keys: ["token"], bare: true }],
  [/^\/$/, homeView],
  [/^\/apps$/, homeView],
  [/^\/templates$/, templatesView],
  [/^\/inbox$/, inboxView],
  [/^\/inbox\/([\w-]+)$/, taskView, { keys: ["task"] }],
  [/^\/apps\/([\w-]+)$/, appView, { keys: ["app"] }],
  [/^\/apps\/([\w-]+)\/new-form$/, designerView, { keys: ["app"] }],
  [/^\/apps\/([\w-]+)\/rules\/new$/, ruleView, { keys: ["app"] }],
  [/^\/apps\/([\w-]+)\/rules\/([\w-]+)$/, ruleView, { keys: ["app", "rule"] }],
  [/^\/apps\/([\w-]+)\/dashboards\/([\w-]+)$/, dashboardView, { keys: ["app", "dashboard"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)$/, tableView, { keys: ["app", "form"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)\/design$/, designerView, { keys: ["app", "form"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)\/flows$/, flowsView, { keys: ["app", "form"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)\/flows\/new$/, flowView, { keys: ["app", "form"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)\/flows\/([\w-]+)$/, flowView, { keys: ["app", "form", "flow"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)\/new$/, recordView, { keys: ["app", "form"] }],
  [/^\/apps\/([\w-]+)\/forms\/([\w-]+)\/records\/([\w-]+)$/, recordView, { keys: ["app", "form", "record"] }],
];

export function navigate(path, { replace = false } = {}) {
  // A new page opens at its top (the browser restores the place on back).
  const moved = !replace && path !== location.pathname + location.search;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  const done = render();
  if (moved) done.then(() => window.scrollTo(0, 0));
}

/** Forms of an app, cached for the session; `fresh` reloads them. */
export async function formsOf(appId, fresh = false) {
  if (fresh || !session.forms.has(appId)) {
    session.forms.set(appId, await api.get(`/apps/${appId}/forms`));
  }
  return session.forms.get(appId);
}

export async function appsList(fresh = false) {
  if (fresh || !session.apps) session.apps = await api.get("/apps");
  return session.apps;
}

export function rememberTenant(slug) {
  const list = recentTenants().filter((s) => s !== slug);
  list.unshift(slug);
  localStorage.setItem(TENANTS_KEY, JSON.stringify(list.slice(0, 8)));
}

export function recentTenants() {
  try {
    const v = JSON.parse(localStorage.getItem(TENANTS_KEY) || "[]");
    return Array.isArray(v) ? v.filter((s) => typeof s === "string") : [];
  } catch {
    return [];
  }
}

export async function logout(nextTenant) {
  try { await api.post("/auth/logout"); } catch { /* already gone */ }
  localStorage.removeItem(SIGNED_IN_KEY);
  session.me = null;
  session.apps = null;
  session.forms.clear();
  forgetMembers();
  navigate(nextTenant ? `/login?tenant=${encodeURIComponent(nextTenant)}` : "/login");
}

setUnauthorizedHandler(() => {
  localStorage.removeItem(SIGNED_IN_KEY);
  if (location.pathname !== "/login") {
    session.me = null;
    const next = location.pathname + location.search;
    navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true });
  }
});

function match(path) {
  for (const [re, view, opts = {}] of routes) {
    const m = re.exec(path);
    if (m) {
      const params = {};
      (opts.keys || []).forEach((k, i) => { params[k] = m[i + 1]; });
      return { view, params, bare: !!opts.bare };
    }
  }
  return null;
}

let renderSeq = 0;
const root = document.getElementById("root");

export async function render() {
  const seq = ++renderSeq;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const found = match(path);
  const query = new URLSearchParams(location.search);
  if (!found) {
    mount(root, h("main.page", h("p", t("nav.not_found")), h("a", { href: "/" }, t("nav.home"))));
    return;
  }
  if (!found.bare && !session.me) {
    if (!localStorage.getItem(SIGNED_IN_KEY)) {
      const next = location.pathname + location.search;
      navigate(next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`, { replace: true });
      return;
    }
    try {
      session.me = await api.get("/me");
      forgetMembers();
      rememberTenant(session.me.tenant.slug);
    } catch {
      return; // the 401 handler went to /login
    }
  }
  const ctx = { params: found.params, query, path, rerender: render };
  let node;
  try {
    node = await found.view(ctx);
  } catch (e) {
    node = h("div.page", h("p.error-banner", { role: "alert" }, e.display ? e.display() : String(e)));
  }
  if (seq !== renderSeq) return;
  if (found.bare) {
    mount(root, h("div.bare", langPicker("lang-floating"), node));
  } else {
    mount(root, await shell(found.params, node));
  }
  document.title = node.dataset?.title ? `${node.dataset.title} · Formwork` : "Formwork";
  // The first screen is usable: the browser tests read this mark.
  if (!performance.getEntriesByName("fw-first-render").length) performance.mark("fw-first-render");
  const focus = root.querySelector("[autofocus]");
  if (focus) focus.focus();
}

function langPicker(cls) {
  return h(`label.lang.${cls}`, h("span.sr-only", t("shell.language")),
    h("select", {
      "data-testid": "lang",
      "aria-label": t("shell.language"),
      on: { change: (e) => setLang(e.target.value) },
    }, languages.map(([code, name]) => h("option", { value: code, selected: code === currentLang() }, name))));
}

function tenantSwitcher() {
  const me = session.me;
  const others = recentTenants().filter((s) => s !== me.tenant.slug);
  const menu = h("div.menu", { hidden: true, role: "menu" },
    h("div.menu-head", t("shell.tenant_current"), h("strong", ` ${me.tenant.name} (${me.tenant.slug})`)),
    others.map((slug) => h("button.menu-item", {
      role: "menuitem", type: "button", "data-tenant": slug,
      on: { click: () => logout(slug) },
    }, t("shell.tenant_switch_to", { slug }))),
    h("button.menu-item", { role: "menuitem", type: "button", on: { click: () => logout("") } },
      t("shell.tenant_other")),
  );
  const btn = h("button.tenant-btn", {
    type: "button", "aria-haspopup": "menu", "data-testid": "tenant",
    title: t("shell.tenant"),
    on: { click: (e) => { e.stopPropagation(); menu.hidden = !menu.hidden; } },
  }, me.tenant.name, " ▾");
  return h("div.dropdown", btn, menu);
}

async function shell(params, content) {
  const me = session.me;
  let apps = [];
  try { apps = await appsList(); } catch { apps = []; }
  const app = apps.find((a) => a.id === params.app);
  let forms = [];
  if (app) {
    try { forms = await formsOf(app.id); } catch { forms = []; }
  }
  const appSelect = h("select.app-switch", {
    "aria-label": t("shell.app"), "data-testid": "app-switch",
    on: { change: (e) => navigate(e.target.value ? `/apps/${e.target.value}` : "/") },
  },
  h("option", { value: "" }, t("shell.all_apps")),
  apps.map((a) => h("option", { value: a.id, selected: a.id === params.app }, a.name)));

  const nav = h("nav.sidebar", { "aria-label": t("shell.forms") },
    app
      ? [
        h("div.side-title", h("a", { href: `/apps/${app.id}` }, app.name)),
        h("ul.side-list", forms.map((f) => h("li",
          h("a", {
            href: `/apps/${app.id}/forms/${f.id}`,
            class: f.id === params.form ? "active" : "",
            "aria-current": f.id === params.form ? "page" : false,
          }, f.name)))),
        forms.length === 0 ? h("p.muted", t("app.no_forms")) : null,
        h("a.side-action", { href: `/apps/${app.id}/new-form` }, "+ ", t("app.new_form")),
      ]
      : [
        h("div.side-title", t("shell.apps")),
        h("ul.side-list", apps.map((a) => h("li", h("a", { href: `/apps/${a.id}` }, a.name)))),
      ]);

  const navToggle = h("button.nav-toggle", {
    type: "button", "aria-label": t("shell.menu"), "aria-expanded": "false",
    on: {
      click: (e) => {
        const open = document.body.classList.toggle("nav-open");
        e.currentTarget.setAttribute("aria-expanded", String(open));
      },
    },
  }, "☰");
  document.body.classList.remove("nav-open");

  const top = h("header.topbar",
    navToggle,
    h("a.brand", { href: "/" }, "Formwork"),
    tenantSwitcher(),
    appSelect,
    h("a.top-link", { href: "/inbox", "data-testid": "inbox" }, t("inbox.nav"), inboxBadge()),
    h("span.spacer"),
    langPicker("lang-top"),
    h("span.user", { title: me.email }, me.display_name || me.email),
    h("button.link", { type: "button", "data-testid": "logout", on: { click: () => logout() } }, t("shell.logout")),
  );
  return h("div.layout", top, h("div.body", nav, h("main.main", { id: "main" }, content)));
}

/** How many tasks wait for me, next to the inbox link: read on each page
 * and every minute while the page stays open. */
let badgeTimer = null;
function inboxBadge() {
  const badge = h("span.count-badge", { hidden: true, "data-testid": "inbox-count", "aria-live": "polite" });
  const refresh = async () => {
    try {
      const { todo_count: n } = await api.get("/tasks?limit=1");
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.title = t("inbox.waiting", { n });
      badge.hidden = !n;
    } catch { badge.hidden = true; }
  };
  clearInterval(badgeTimer);
  badgeTimer = setInterval(refresh, 60000);
  refresh();
  return badge;
}

// Same-origin links go through the router; a click elsewhere closes menus.
document.addEventListener("click", (e) => {
  for (const m of document.querySelectorAll(".dropdown .menu:not([hidden])")) {
    if (!m.parentElement.contains(e.target)) m.hidden = true;
  }
  const a = e.target.closest && e.target.closest("a[href]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || a.hasAttribute("download")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", render);
onLangChange(() => render());
window.addEventListener("unhandledrejection", (e) => {
  const err = e.reason;
  toast(err && err.display ? err.display() : String(err), "error");
});

render();
