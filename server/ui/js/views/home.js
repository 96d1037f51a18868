// The app list (create an app) and an app's page (its forms).
import { api } from "../api.js";
import { h, dialog, toast } from "../dom.js";
import { t, detailMessage } from "../i18n.js";
import { appsList, formsOf, navigate, session } from "../app.js";

export async function homeView() {
  const apps = await appsList();
  const create = h("button.primary", {
    type: "button", "data-testid": "new-app",
    on: { click: () => newApp() },
  }, "+ ", t("home.new_app"));
  const page = h("section.page",
    h("div.page-head", h("h1", t("home.title")),
      h("div.actions", h("a.button", { href: "/templates", "data-testid": "gallery" }, t("tpl.title")), create)),
    apps.length === 0
      ? h("p.empty", t("home.empty"))
      : h("ul.cards", apps.map((a) => h("li.card",
        h("a.card-link", { href: `/apps/${a.id}` }, h("strong", a.name)),
        a.description ? h("p.muted", a.description) : null))));
  page.dataset.title = t("home.title");
  return page;
}

/** A dialog asking for a name; `create(name)` makes the thing (its refusal
 * shows under the input). Resolves with what was made, or null. */
export function createNamed(title, label, create) {
  const name = h("input", { name: "name", required: true, maxlength: 200, autofocus: true });
  const err = h("p.field-error", { hidden: true, role: "alert" });
  return dialog(title,
    h("label.field", h("span.label", label), name, err),
    (close) => [
      h("button", { type: "button", on: { click: () => close(null) } }, t("common.cancel")),
      h("button.primary", {
        type: "button",
        on: {
          click: async () => {
            try {
              close(await create(name.value.trim()));
            } catch (e) {
              err.textContent = e.details[0] ? detailMessage(e.details[0].message) : e.display();
              err.hidden = false;
            }
          },
        },
      }, t("common.create")),
    ]);
}

async function newApp() {
  const made = await createNamed(t("home.new_app"), t("home.app_name"), (name) => api.post("/apps", { name }));
  if (made) {
    session.apps = null;
    toast(t("home.app_created"));
    navigate(`/apps/${made.id}`);
  }
}

export async function appView(ctx) {
  const apps = await appsList();
  const app = apps.find((a) => a.id === ctx.params.app) ?? (await api.get(`/apps/${ctx.params.app}`));
  const forms = await formsOf(app.id);
  const page = h("section.page",
    h("div.page-head", h("h1", app.name),
      h("div.actions",
        h("a.button", { href: `/api/v1/apps/${app.id}/export`, download: "", "data-testid": "export-app" },
          t("tpl.export")),
        h("a.button.primary", { href: `/apps/${app.id}/new-form` }, "+ ", t("app.new_form")))),
    forms.length === 0
      ? h("p.empty", t("app.no_forms"))
      : h("ul.cards", { "data-testid": "forms" }, forms.map((f) => h("li.card",
        h("a.card-link", { href: `/apps/${app.id}/forms/${f.id}` }, h("strong", f.name)),
        h("p.muted", t("app.form_meta", { fields: f.fields.length, version: f.version })),
        h("div.card-actions",
          h("a", { href: `/apps/${app.id}/forms/${f.id}/new` }, t("table.new_record")),
          h("a", { href: `/apps/${app.id}/forms/${f.id}/design` }, t("app.design")),
          h("a", { href: `/apps/${app.id}/forms/${f.id}/flows`, "data-testid": "form-flows" }, t("flow.nav")))))),
    await (await import("./dashboard.js")).dashboardsSection(app),
    await (await import("./rules.js")).rulesSection(app));
  page.dataset.title = app.name;
  return page;
}
