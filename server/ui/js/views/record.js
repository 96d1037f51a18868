// The record form, built from the form's definition: one input per field,
// the server's field-level errors shown at their fields, and nothing typed
// lost when a save fails (the inputs are kept, and a draft survives a
// re-render such as a language switch). Create, edit, delete, tags.
import { api, call, ensureTag } from "../api.js";
import { h, dialog, toast } from "../dom.js";
import { t, detailMessage } from "../i18n.js";
import { fieldInput, formRow, COMPUTED, hasMemberField, loadMembers } from "../fields.js";
import { formsOf, navigate } from "../app.js";

/** Unsaved values by page path. */
const drafts = new Map();

/** A form of the app, with the members loaded when a field names them. */
export async function loadForm(appId, formId) {
  const forms = await formsOf(appId);
  const form = forms.find((f) => f.id === formId) ?? (await api.get(`/forms/${formId}`));
  if (hasMemberField(form.fields)) await loadMembers();
  return form;
}

export async function recordView(ctx) {
  const { app: appId, form: formId, record: recordId } = ctx.params;
  const form = await loadForm(appId, formId);
  const tableUrl = `/apps/${appId}/forms/${formId}`;
  let record = null;
  let etag = null;
  if (recordId) {
    const r = await call("GET", `/forms/${formId}/records/${recordId}`);
    record = r.body;
    etag = r.etag;
  }
  const draft = drafts.get(ctx.path);
  const initial = draft ?? record?.data ?? {};

  const banner = h("div.error-banner", { role: "alert", hidden: true, "data-testid": "form-error" });
  const inputs = new Map();
  const errors = new Map();
  const collect = () => {
    const data = {};
    for (const [key, inp] of inputs) {
      const v = inp.get();
      if (v !== undefined) data[key] = v;
    }
    return data;
  };
  const onInput = () => drafts.set(ctx.path, collect());

  const visible = form.fields.filter((f) => !f.hidden);
  const rows = visible.map((f) => {
    const inp = fieldInput(f, initial[f.key], onInput);
    if (inp.setTitles && record) inp.setTitles(record.expanded);
    inputs.set(f.key, inp);
    return formRow(f, inp, errors);
  });

  const clearErrors = () => {
    banner.hidden = true;
    for (const [key, err] of errors) {
      err.hidden = true;
      err.textContent = "";
      const el = inputs.get(key).el;
      el.removeAttribute("aria-invalid");
      el.closest(".form-row")?.classList.remove("invalid");
    }
    for (const c of form_.querySelectorAll(".sub-error")) c.remove();
  };

  const showErrors = (e) => {
    const loose = [];
    let first = null;
    for (const d of e.details) {
      const [key, row, sub] = String(d.field).replace(/^\//, "").split(/[/.]/);
      const err = errors.get(key);
      if (!err) { loose.push(`${d.field}: ${detailMessage(d.message)}`); continue; }
      const msg = detailMessage(d.message);
      const inp = inputs.get(key);
      if (row !== undefined && sub && inp.rowCell) {
        const cell = inp.rowCell(Number(row), sub);
        if (cell) cell.append(h("p.field-error.sub-error", msg));
      }
      err.textContent = err.textContent ? `${err.textContent}; ${msg}` : msg;
      err.hidden = false;
      inp.el.setAttribute("aria-invalid", "true");
      inp.el.setAttribute("aria-describedby", err.id);
      inp.el.closest(".form-row")?.classList.add("invalid");
      first = first ?? inp.el;
    }
    banner.replaceChildren(h("strong", e.display()), ...(loose.length ? [h("ul", loose.map((l) => h("li", l)))] : []));
    banner.hidden = false;
    const target = first?.matches("input,select,textarea") ? first : first?.querySelector("input,select,textarea,button");
    (target ?? banner).focus();
  };

  const save = h("button.primary", { type: "submit", "data-testid": "save" }, t("common.save"));
  const form_ = h("form.record-form", {
    novalidate: true,
    "data-testid": "record-form",
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        clearErrors();
        const data = collect();
        save.disabled = true;
        try {
          if (record) {
            const patch = { ...data };
            for (const f of form.fields) {
              if (!(f.key in patch) && !COMPUTED.has(f.type) && record.data[f.key] !== undefined) patch[f.key] = null;
            }
            await call("PATCH", `/forms/${formId}/records/${record.id}`, { data: patch }, etag ? { "if-match": etag } : {});
            toast(t("record.saved"));
          } else {
            await call("POST", `/forms/${formId}/records`, { data });
            toast(t("record.created"));
          }
          drafts.delete(ctx.path);
          navigate(tableUrl);
        } catch (e) {
          save.disabled = false;
          if (e.code === "version_mismatch") {
            banner.replaceChildren(h("strong", t("record.stale")), " ",
              h("button", { type: "button", on: { click: () => { drafts.delete(ctx.path); ctx.rerender(); } } }, t("record.load_latest")));
            banner.hidden = false;
          } else if (e.status === 0 || !e.details) {
            banner.textContent = e.display();
            banner.hidden = false;
          } else {
            showErrors(e);
          }
        }
      },
    },
  },
  banner,
  h("div.form-grid", rows),
  h("div.form-actions",
    save,
    h("a.button", { href: tableUrl, on: { click: () => drafts.delete(ctx.path) } }, t("common.cancel")),
    record ? h("button.danger", { type: "button", "data-testid": "delete", on: { click: () => remove() } }, t("common.delete")) : null));

  async function remove() {
    const ok = await dialog(t("record.delete_title"), h("p", t("record.delete_confirm")), (close) => [
      h("button", { type: "button", on: { click: () => close(false) } }, t("common.cancel")),
      h("button.danger", { type: "button", "data-testid": "confirm-delete", on: { click: () => close(true) } }, t("common.delete")),
    ]);
    if (!ok) return;
    try {
      await api.del(`/forms/${formId}/records/${record.id}`);
      drafts.delete(ctx.path);
      toast(t("record.deleted"));
      navigate(tableUrl);
    } catch (e) {
      toast(e.display(), "error");
    }
  }

  const page = h("section.page",
    h("nav.crumbs", h("a", { href: tableUrl }, form.name), " / ", record ? t("record.edit") : t("record.new")),
    h("h1", record ? t("record.edit") : t("record.new")),
    draft ? h("p.note", t("record.draft_restored")) : null,
    form_,
    record ? tagEditor(formId, record) : null,
    record ? historyBox(form, record) : null,
    record ? h("p.muted.meta", t("record.meta", { version: record.version, updated: new Date(record.updated_at).toLocaleString() })) : null);
  page.dataset.title = form.name;
  return page;
}

/** The record's tags as chips, with add and remove. */
function tagEditor(formId, record) {
  const tags = new Set(record.tags || []);
  const list = h("span.chips", { "data-testid": "record-tags" });
  const redraw = () => list.replaceChildren(...[...tags].map((name) => h("span.chip", name,
    h("button.chip-x", {
      type: "button", "aria-label": t("record.tag_remove", { name }),
      on: {
        click: async () => {
          try {
            await api.del(`/forms/${formId}/records/${record.id}/tags/${encodeURIComponent(name)}`);
            tags.delete(name);
            redraw();
          } catch (e) { toast(e.display(), "error"); }
        },
      },
    }, "×"))));
  const input = h("input", { type: "text", placeholder: t("record.tag_add"), "aria-label": t("record.tag_add"), maxlength: 50 });
  const add = async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name) return;
    try {
      await ensureTag(name);
      await api.post(`/forms/${formId}/records/${record.id}/tags/${encodeURIComponent(name)}`);
      tags.add(name);
      input.value = "";
      redraw();
    } catch (err) { toast(err.display(), "error"); }
  };
  redraw();
  return h("section.tags-box", h("h2", t("record.tags")), list,
    h("form.inline", { on: { submit: add } }, input, h("button", { type: "submit" }, t("common.add"))));
}

/** Every change of the record, loaded when opened. */
function historyBox(form, record) {
  const list = h("ol.history", { "data-testid": "history" });
  const label = (key) => form.fields.find((f) => f.key === key)?.label ?? key;
  const show = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
  let loaded = false;
  const box = h("details.history-box", {
    on: {
      toggle: async () => {
        if (!box.open || loaded) return;
        loaded = true;
        try {
          const entries = await api.get(`/forms/${form.id}/records/${record.id}/history`);
          list.replaceChildren(...entries.map((e) => h("li",
            h("div", h("strong", t("record.version_n", { n: e.version })), " · ", t(`action.${e.action}`) , " · ", new Date(e.at).toLocaleString()),
            h("ul", Object.entries(e.changes || {}).map(([k, c]) => h("li", `${label(k)}: ${show(c.from)} → ${show(c.to)}`))))));
        } catch (err) { list.replaceChildren(h("li.field-error", err.display())); }
      },
    },
  }, h("summary", t("record.history")), list);
  return box;
}
