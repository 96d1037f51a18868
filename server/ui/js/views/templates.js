// The template gallery: every builtin template with what it holds; install
// one as a new app (name, sample data), follow the queued install to its
// end, then open the app. Also the import of an exported package.
import { api } from "../api.js";
import { h, dialog, toast } from "../dom.js";
import { t } from "../i18n.js";
import { navigate, session } from "../app.js";

const POLL_MS = 500;
const POLL_LIMIT = 600; // five minutes

export async function templatesView() {
  const templates = await api.get("/templates");
  const page = h("section.page",
    h("div.page-head", h("h1", t("tpl.title")),
      h("button", { type: "button", "data-testid": "import-app", on: { click: () => importPackage() } },
        t("tpl.import"))),
    h("p.muted", t("tpl.subtitle")),
    h("ul.cards", templates.map((tpl) => h("li.card", { "data-template": tpl.key },
      h("strong", tpl.name),
      h("p.muted", t("tpl.meta", { version: tpl.version, ...tpl.counts })),
      h("p", tpl.description),
      h("div.card-actions",
        h("button.primary", {
          type: "button", "data-testid": `install-${tpl.key}`,
          on: { click: () => install(tpl) },
        }, t("tpl.install")))))));
  page.dataset.title = t("tpl.title");
  return page;
}

/** Polls a queued install until it ends; `onTick` gets each status. */
async function follow(jobId, onTick) {
  for (let i = 0; i < POLL_LIMIT; i += 1) {
    const s = await api.get(`/jobs/${jobId}`);
    onTick(s);
    // `failed` is an attempt that failed and is retried; only `succeeded`
    // and `dead` are the end.
    if (s.status === "succeeded" || s.status === "dead") return s;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(t("tpl.too_long"));
}

async function install(tpl) {
  const name = h("input", { name: "name", required: true, maxlength: 200, value: tpl.name, autofocus: true });
  const sample = h("input", { type: "checkbox", name: "sample_data", checked: tpl.sample_data,
    disabled: !tpl.sample_data });
  const status = h("p.muted", { role: "status", "aria-live": "polite", "data-testid": "install-status" });
  const err = h("p.field-error", { hidden: true, role: "alert" });
  const done = await dialog(t("tpl.install_title", { name: tpl.name }),
    h("div",
      h("label.field", h("span.label", t("home.app_name")), name),
      h("label.check", sample, " ", t("tpl.sample_data")),
      status, err),
    (close) => {
      const go = h("button.primary", {
        type: "button", "data-testid": "install-confirm",
        on: {
          click: async () => {
            go.disabled = true;
            err.hidden = true;
            try {
              const queued = await api.post(`/templates/${tpl.key}/install`,
                { name: name.value.trim(), sample_data: sample.checked });
              const end = await follow(queued.job_id, (s) => {
                status.textContent = t(`tpl.status.${s.status}`);
              });
              if (end.status === "succeeded") close(end);
              else {
                err.textContent = end.error?.message ?? t("tpl.status.dead");
                err.hidden = false;
                go.disabled = false;
              }
            } catch (e) {
              err.textContent = e.details?.[0]?.message ?? (e.display ? e.display() : String(e));
              err.hidden = false;
              go.disabled = false;
            }
          },
        },
      }, t("tpl.install"));
      return [h("button", { type: "button", on: { click: () => close(null) } }, t("common.cancel")), go];
    });
  if (done) {
    session.apps = null;
    toast(t("tpl.installed", { forms: done.result.forms, records: done.result.records }));
    navigate(`/apps/${done.app_id}`);
  }
}

async function importPackage() {
  const file = h("input", { type: "file", accept: ".json,application/json", "data-testid": "import-file" });
  const err = h("p.field-error", { hidden: true, role: "alert" });
  const made = await dialog(t("tpl.import"),
    h("div", h("label.field", h("span.label", t("tpl.import_file")), file), err),
    (close) => [
      h("button", { type: "button", on: { click: () => close(null) } }, t("common.cancel")),
      h("button.primary", {
        type: "button", "data-testid": "import-confirm",
        on: {
          click: async () => {
            err.hidden = true;
            try {
              const text = await file.files[0].text();
              close(await api.post("/apps/import", JSON.parse(text)));
            } catch (e) {
              err.textContent = e.details?.length
                ? e.details.map((d) => `${d.field}: ${d.message}`).join("\n")
                : (e.display ? e.display() : t("tpl.import_unreadable"));
              err.hidden = false;
            }
          },
        },
      }, t("tpl.import")),
    ]);
  if (made) {
    session.apps = null;
    toast(t("tpl.imported"));
    navigate(`/apps/${made.app}`);
  }
}
