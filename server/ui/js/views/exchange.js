// Spreadsheet exchange from the data table: export what the table shows as
// CSV or XLSX, and import a file in three steps — upload (the server
// guesses the column mapping), check (a dry run listing every bad row),
// import (a job, followed until it ends; all rows or none).
import { call, fetchFile, saveFile, api } from "../api.js";
import { h, dialog, mount, toast } from "../dom.js";
import { t, detailMessage } from "../i18n.js";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const POLL_MS = 400;

/** Downloads the records of `query` ({filter, sort, q, fields}) as `format`. */
export async function exportView(formId, query, format) {
  try {
    const { blob, name } = await fetchFile("POST", `/forms/${formId}/exports`, { format, ...query });
    saveFile(blob, name);
    toast(t("exchange.exported", { name }));
  } catch (e) {
    toast(e.display(), "error");
  }
}

/** The content type to upload `file` with (browsers leave .csv untyped on some systems). */
function typeOf(file) {
  if (/\.xlsx$/i.test(file.name)) return XLSX;
  if (/\.(csv|txt)$/i.test(file.name)) return "text/csv";
  return file.type || "application/octet-stream";
}

/** The import dialog of `form`; `onImported()` after a run that wrote. */
export function importDialog(form, onImported) {
  let close = () => {};
  {
    const body = h("div.import", { "data-testid": "import-dialog" });
    let imp = null; // the import as the server shows it
    let checked = false; // a dry run without errors matches the settings shown
    let stopped = false;
    const banner = h("div.error-banner", { role: "alert", hidden: true, "data-testid": "import-error" });
    const result = h("div.import-result", { "aria-live": "polite", "data-testid": "import-result" });
    const runBtn = h("button.primary", { type: "button", disabled: true, "data-testid": "import-run", on: { click: () => run() } }, t("exchange.run"));
    const checkBtn = h("button", { type: "button", disabled: true, "data-testid": "import-check", on: { click: () => check() } }, t("exchange.check"));
    const settings = { mapping: [], mode: "insert", key: null };

    const fail = (e) => {
      banner.replaceChildren(h("strong", e.display()));
      const loose = [];
      for (const d of e.details || []) {
        const m = /^mapping\/(\d+)$/.exec(d.field);
        const slot = m ? body.querySelector(`[data-error-for="col-${settings.mapping[Number(m[1])]?.column}"]`)
          : body.querySelector(`[data-error-for="${d.field}"]`);
        if (slot) slot.textContent = detailMessage(d.message);
        else loose.push(detailMessage(d.message));
      }
      if (loose.length) banner.append(h("ul", loose.map((l) => h("li", l))));
      banner.hidden = false;
    };
    const clearErrors = () => {
      banner.hidden = true;
      for (const el of body.querySelectorAll("[data-error-for]")) el.textContent = "";
    };
    const changed = () => {
      checked = false;
      runBtn.disabled = true;
      mount(result);
      clearErrors();
    };

    const picker = h("input", {
      type: "file", accept: ".csv,.xlsx,text/csv," + XLSX, "data-testid": "import-file", id: "import-file",
      on: { change: (e) => e.target.files[0] && upload(e.target.files[0]) },
    });
    const mapSlot = h("div");
    body.append(
      h("label.field", { for: "import-file" }, h("span.label", t("exchange.file")), picker,
        h("p.help", t("exchange.file_help"))),
      mapSlot, banner, result);

    async function upload(file) {
      changed();
      mount(mapSlot, h("p.muted", t("exchange.uploading")));
      try {
        imp = (await call("POST", `/forms/${form.id}/imports?file_name=${encodeURIComponent(file.name)}`, file, { "content-type": typeOf(file) })).body;
      } catch (e) {
        mount(mapSlot);
        fail(e);
        return;
      }
      settings.mapping = imp.mapping.map((m) => ({ column: m.column, field: m.field ?? null }));
      settings.mode = "insert";
      settings.key = null;
      drawMapping();
      checkBtn.disabled = false;
    }

    function drawMapping() {
      const targets = imp.targets;
      const used = new Set(settings.mapping.map((m) => m.field).filter(Boolean));
      const rows = imp.columns.map((header, column) => {
        const m = settings.mapping.find((x) => x.column === column);
        const sel = h("select", {
          "aria-label": t("exchange.field_for", { column: header }), "data-column": String(column),
          on: {
            change: (e) => {
              m.field = e.target.value || null;
              if (settings.key && !settings.mapping.some((x) => x.field === settings.key)) settings.key = null;
              changed();
              drawMapping();
            },
          },
        },
        h("option", { value: "", selected: !m.field }, t("exchange.skip")),
        targets.map((tg) => h("option", { value: tg.field, selected: m.field === tg.field, disabled: m.field !== tg.field && used.has(tg.field) },
          tg.label === tg.field ? tg.label : `${tg.label} (${tg.field})`)));
        return h("tr", { "data-column": String(column) },
          h("td", header || h("span.muted", t("exchange.no_header", { n: column + 1 }))),
          h("td", sel, h("p.field-error", { "data-error-for": `col-${column}` })));
      });
      const keys = targets.filter((tg) => tg.key && used.has(tg.field));
      const modeSel = h("select", {
        id: "import-mode", "data-testid": "import-mode",
        on: { change: (e) => { settings.mode = e.target.value; if (settings.mode === "insert") settings.key = null; changed(); drawMapping(); } },
      }, ["insert", "upsert", "update"].map((mode) => h("option", { value: mode, selected: settings.mode === mode }, t(`exchange.mode_${mode}`))));
      const keySel = settings.mode === "insert" ? null : h("select", {
        id: "import-key", "data-testid": "import-key",
        on: { change: (e) => { settings.key = e.target.value || null; changed(); } },
      }, h("option", { value: "" }, t("exchange.key_pick")),
      keys.map((tg) => h("option", { value: tg.field, selected: settings.key === tg.field }, tg.label)));
      mount(mapSlot,
        h("p", { "data-testid": "import-file-info" }, t("exchange.file_info", { name: imp.file_name || imp.format, rows: imp.rows, columns: imp.columns.length })),
        h("div.table-scroll.import-map", h("table.grid.sub", { "data-testid": "import-mapping" },
          h("thead", h("tr", h("th", t("exchange.column")), h("th", t("exchange.field")))),
          h("tbody", rows))),
        h("div.import-mode",
          h("label", { for: "import-mode" }, t("exchange.mode"), " "), modeSel,
          keySel ? [" ", h("label", { for: "import-key" }, t("exchange.key"), " "), keySel] : null),
        h("p.field-error", { "data-error-for": "mode" }),
        h("p.field-error", { "data-error-for": "key" }),
        h("p.help", t(`exchange.mode_${settings.mode}_help`)));
    }

    const runBody = (dry) => ({ mapping: settings.mapping, mode: settings.mode, key: settings.key ?? undefined, dry_run: dry });

    async function check() {
      clearErrors();
      checkBtn.disabled = true;
      mount(result, h("p.muted", t("exchange.checking")));
      try {
        imp = { ...imp, ...(await api.post(`/forms/${form.id}/imports/${imp.id}/run`, runBody(true))) };
      } catch (e) {
        mount(result);
        fail(e);
        return;
      } finally {
        checkBtn.disabled = false;
      }
      drawResult(true);
      checked = imp.error_count === 0;
      runBtn.disabled = !checked;
    }

    function drawResult(dry) {
      const s = imp.summary || { inserted: 0, updated: 0, unchanged: 0, failed_rows: 0 };
      const errors = imp.errors || [];
      mount(result,
        h("p", { "data-testid": "import-summary" }, t(dry ? "exchange.would" : "exchange.did", s)),
        imp.failure ? h("p.field-error", imp.failure) : null,
        errors.length
          ? [
            h("p.field-error", t("exchange.error_count", { n: imp.error_count })),
            h("div.table-scroll.import-errors", h("table.grid.sub", { "data-testid": "import-errors" },
              h("thead", h("tr", h("th", t("exchange.row")), h("th", t("exchange.column")), h("th", t("exchange.value")), h("th", t("exchange.problem")))),
              h("tbody", errors.map((er) => h("tr",
                h("td.num", String(er.row)), h("td", er.column ?? er.field ?? ""), h("td", er.value ?? ""), h("td", detailMessage(er.message))))))),
            imp.error_count > errors.length ? h("p.muted", t("exchange.more_errors", { n: imp.error_count - errors.length })) : null,
            h("a", { href: `/api/v1/forms/${form.id}/imports/${imp.id}/errors`, download: "", "data-testid": "import-error-report" }, t("exchange.error_report")),
          ]
          : null);
    }

    async function run() {
      if (!checked) return;
      clearErrors();
      runBtn.disabled = true;
      checkBtn.disabled = true;
      picker.disabled = true;
      const progress = h("progress", { max: 1, value: 0, "data-testid": "import-progress" });
      const label = h("span");
      mount(result, h("p", progress, " ", label));
      try {
        imp = { ...imp, ...(await api.post(`/forms/${form.id}/imports/${imp.id}/run`, runBody(false))) };
        while (!stopped && ["queued", "running"].includes(imp.status)) {
          const p = imp.progress || {};
          progress.max = p.total || 1;
          progress.value = p.processed || 0;
          label.textContent = t(`exchange.phase_${p.phase || "idle"}`, { n: p.processed || 0, total: p.total || 0 });
          await new Promise((r) => setTimeout(r, POLL_MS));
          imp = { ...imp, ...(await api.get(`/forms/${form.id}/imports/${imp.id}`)) };
        }
      } catch (e) {
        fail(e);
        picker.disabled = false;
        checkBtn.disabled = false;
        return;
      }
      if (stopped) return;
      if (imp.status === "succeeded") {
        const s = imp.summary || {};
        toast(t("exchange.did", s));
        onImported();
        close(true);
        return;
      }
      drawResult(false);
      picker.disabled = false;
      checkBtn.disabled = false;
      checked = false;
    }

    const closeBtn = h("button", { type: "button", "data-testid": "import-close", on: { click: () => close(false) } }, t("exchange.close"));
    return dialog(t("exchange.import_title", { form: form.name }), (done) => {
      close = (v) => { stopped = true; done(v); };
      return body;
    }, () => [closeBtn, checkBtn, runBtn], "wide");
  }
}
