// Field types as the UI knows them: an input for the record form and a
// display for table cells, per kind of the server's field type registry.
import { api, fileUrl, uploadFile } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

/** The palette order of the registry's kinds (GET /kinds says which the server has). */
export const FIELD_KINDS = [
  "text", "textarea", "number", "money", "date", "datetime", "select", "multiselect",
  "checkbox", "phone", "email", "url", "rating", "member", "relation", "subform", "attachment", "image", "serial", "formula",
];

/** Kinds whose values are uploaded files. */
export const FILE_KINDS = new Set(["attachment", "image"]);

/** Kinds whose values the server computes. */
export const COMPUTED = new Set(["serial", "formula"]);

/** The filter ops that apply to a kind (as the query compiler allows them). */
export function opsFor(kind) {
  switch (valueKind(kind)) {
    case "text": return ["contains", "eq", "ne", "starts_with", "in", "nin", "empty", "not_empty"];
    case "number": return ["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "nin", "empty", "not_empty"];
    case "date": return ["eq", "gt", "gte", "lt", "lte", "between", "within_days", "days_ago", "in_period", "empty", "not_empty"];
    case "bool": return ["eq", "ne", "empty", "not_empty"];
    case "array": return ["contains", "in", "nin", "empty", "not_empty"];
    case "choice": return ["eq", "ne", "in", "nin", "empty", "not_empty"];
    default: return ["empty", "not_empty"];
  }
}

export function valueKind(kind) {
  switch (kind) {
    case "number": case "money": case "rating": return "number";
    case "date": case "datetime": case "_created_at": case "_updated_at": return "date";
    case "checkbox": return "bool";
    case "multiselect": return "array";
    case "select": return "choice";
    case "subform": case "attachment": case "image": return "none";
    case "member": case "relation": return "choice";
    default: return "text";
  }
}

/** Whether a table can sort by this kind. */
export function sortable(kind) {
  return !["subform", "multiselect", "attachment", "image"].includes(kind);
}

function optionLabel(o) {
  return o.label || o.value;
}

function chip(text, color) {
  return h("span.chip", { style: color ? { "--chip": color } : undefined }, text);
}

// The tenant's members, loaded once per page load for member fields.
let members = null;

/** Loads the members that member fields name (once; none when refused). */
export async function loadMembers() {
  if (!members) {
    try { members = await api.get("/members"); } catch { members = []; }
  }
  return members;
}

/** Forgets the members (a new session, maybe of another tenant). */
export function forgetMembers() {
  members = null;
}

/** Whether a form (or one of its subforms) has a member field. */
export function hasMemberField(fields) {
  return (fields ?? []).some((f) => f.type === "member" || hasMemberField(f.fields));
}

function memberName(id) {
  const m = members?.find((x) => x.user_id === id);
  return m ? m.display_name || m.email : String(id);
}

/** A member field: the active members to pick from (and the current ones). */
function memberInput(field, value, common) {
  const current = new Set(Array.isArray(value) ? value : value ? [value] : []);
  const choices = (members ?? []).filter((m) => m.status === "active" || current.has(m.user_id));
  const known = new Set(choices.map((m) => m.user_id));
  const option = (id, text) => h("option", { value: id, selected: current.has(id) }, text);
  const opts = [
    ...choices.map((m) => option(m.user_id, m.display_name && m.display_name !== m.email ? `${m.display_name} · ${m.email}` : m.email)),
    ...[...current].filter((id) => !known.has(id)).map((id) => option(id, id)),
  ];
  if (field.multiple) {
    const el = h("select", { ...common, multiple: true, size: Math.min(6, Math.max(2, opts.length)) }, opts);
    return { el, get: () => { const v = [...el.selectedOptions].map((o) => o.value); return v.length ? v : undefined; } };
  }
  const el = h("select", common, h("option", { value: "" }, "—"), opts);
  return { el, get: () => (el.value === "" ? undefined : el.value) };
}

/** A cell's content for `value` of `field`. */
export function display(field, value, expanded) {
  if (value === undefined || value === null || value === "") return "";
  switch (field.type) {
    case "select": {
      const o = (field.options || []).find((x) => x.value === value);
      return chip(o ? optionLabel(o) : String(value), o && o.color);
    }
    case "multiselect":
      return h("span.chips", (Array.isArray(value) ? value : [value]).map((v) => {
        const o = (field.options || []).find((x) => x.value === v);
        return chip(o ? optionLabel(o) : String(v), o && o.color);
      }));
    case "checkbox": return value ? "✓" : "✗";
    case "money": {
      const n = Number(value);
      return Number.isFinite(n)
        ? n.toLocaleString(undefined, { minimumFractionDigits: field.scale ?? 2, maximumFractionDigits: field.scale ?? 2 })
        : String(value);
    }
    case "datetime": {
      const d = new Date(value);
      return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
    }
    case "rating": return "★".repeat(Math.max(0, Math.min(10, Number(value) || 0)));
    case "member": return (Array.isArray(value) ? value : [value]).map(memberName).join(", ");
    case "subform": return Array.isArray(value) ? t("record.rows", { n: value.length }) : "";
    case "attachment": case "image":
      return h("span.files-cell", fileItems(value).map((f) => (field.type === "image"
        ? h("a", { href: fileUrl(f.id), target: "_blank", rel: "noopener" }, h("img.thumb", { src: fileUrl(f.id), alt: f.name, loading: "lazy" }))
        : h("a.file-link", { href: fileUrl(f.id), rel: "noopener", download: f.name }, f.name))));
    case "relation": {
      const ex = expanded && expanded[field.key];
      const list = Array.isArray(ex) ? ex : ex ? [ex] : [];
      if (list.length) return list.map((x) => x.title ?? x.id).join(", ");
      return Array.isArray(value) ? value.join(", ") : String(value);
    }
    default:
      return typeof value === "object" ? JSON.stringify(value) : String(value);
  }
}

function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A number typed as text: a number when it parses, else the text as typed, so the server names the fault. */
function numberOrText(s) {
  const v = s.trim();
  if (v === "") return undefined;
  const n = Number(v.replace(/,/g, ""));
  return Number.isFinite(n) ? n : v;
}

/**
 * An input for `field` holding `value`. Returns { el, get } where get()
 * answers the value to send (undefined: leave out).
 */
export function fieldInput(field, value, onInput) {
  const id = `f-${field.key}`;
  const common = { id, name: field.key, "data-field": field.key, on: { input: onInput, change: onInput } };
  switch (field.type) {
    case "textarea": {
      const el = h("textarea", { ...common, rows: 4, value: value ?? "" });
      return { el, get: () => (el.value === "" ? undefined : el.value) };
    }
    case "number": case "money": {
      const el = h("input", { ...common, type: "text", inputmode: "decimal", value: value ?? "" });
      return { el, get: () => numberOrText(el.value) };
    }
    case "rating": {
      const max = field.max || 5;
      const el = h("select", common, h("option", { value: "" }, "—"),
        Array.from({ length: max }, (_, i) => h("option", { value: i + 1, selected: value === i + 1 }, "★".repeat(i + 1))));
      return { el, get: () => (el.value === "" ? undefined : Number(el.value)) };
    }
    case "date": {
      const el = h("input", { ...common, type: "date", value: value ?? "" });
      return { el, get: () => (el.value === "" ? undefined : el.value) };
    }
    case "datetime": {
      const el = h("input", { ...common, type: "datetime-local", value: value ? toLocalInput(value) : "" });
      return { el, get: () => (el.value === "" ? undefined : new Date(el.value).toISOString()) };
    }
    case "checkbox": {
      const el = h("input", { ...common, type: "checkbox", checked: !!value });
      return { el, get: () => el.checked };
    }
    case "select": {
      if (field.display === "radio") {
        const inputs = (field.options || []).map((o) => h("input", {
          type: "radio", name: field.key, value: o.value, checked: o.value === value, on: common.on,
        }));
        const el = h("div.choices", { id, role: "radiogroup", "data-field": field.key },
          inputs.map((r, i) => h("label.choice", r, optionLabel(field.options[i]))));
        return { el, get: () => inputs.find((r) => r.checked)?.value };
      }
      const el = h("select", common, h("option", { value: "" }, "—"),
        (field.options || []).map((o) => h("option", { value: o.value, selected: o.value === value }, optionLabel(o))));
      return { el, get: () => (el.value === "" ? undefined : el.value) };
    }
    case "multiselect": {
      const have = new Set(Array.isArray(value) ? value : []);
      const boxes = (field.options || []).map((o) => h("input", {
        type: "checkbox", value: o.value, checked: have.has(o.value), on: common.on,
      }));
      const el = h("div.choices", { id, "data-field": field.key },
        boxes.map((b, i) => h("label.choice", b, optionLabel(field.options[i]))));
      return { el, get: () => { const v = boxes.filter((b) => b.checked).map((b) => b.value); return v.length ? v : undefined; } };
    }
    case "member": return memberInput(field, value, common);
    case "relation": return relationInput(field, value, onInput, common);
    case "subform": return subformInput(field, value, onInput);
    case "attachment": case "image": return filesInput(field, value, onInput, common);
    case "serial": case "formula": {
      const el = h("output", { id, "data-field": field.key }, value === undefined || value === null ? t("record.computed") : display(field, value));
      return { el, get: () => undefined, readOnly: true };
    }
    default: {
      const type = { email: "email", url: "url", phone: "tel" }[field.type] || "text";
      const el = h("input", { ...common, type, value: value ?? "", maxlength: field.max_length });
      return { el, get: () => (el.value === "" ? undefined : el.value) };
    }
  }
}

/** The `{id, name}` items of a file field's value (ids alone from a draft). */
function fileItems(value) {
  return (Array.isArray(value) ? value : [])
    .map((f) => (typeof f === "string" ? { id: f, name: f } : f))
    .filter((f) => f && f.id);
}

/** Files: upload on choosing (the server sniffs the type and keeps the bytes), remove with ×. */
function filesInput(field, value, onInput, common) {
  const files = fileItems(value);
  const images = field.type === "image";
  const list = h("ul.file-list");
  const status = h("p.file-status", { role: "status" });
  const input = h("input", {
    id: common.id, name: field.key, type: "file", multiple: true,
    accept: images ? "image/png,image/jpeg,image/gif,image/webp,image/bmp" : undefined,
  });
  const redraw = () => {
    list.replaceChildren(...files.map((f, i) => h("li",
      images ? h("img.thumb", { src: fileUrl(f.id), alt: f.name }) : null,
      h("a.file-link", { href: fileUrl(f.id), target: "_blank", rel: "noopener" }, f.name),
      h("button.chip-x", {
        type: "button", "aria-label": `${t("common.remove")} ${f.name}`,
        on: { click: () => { files.splice(i, 1); redraw(); onInput(); } },
      }, "×"))));
  };
  input.addEventListener("change", async () => {
    const chosen = [...input.files];
    input.value = "";
    for (const file of chosen) {
      status.textContent = t("file.uploading", { name: file.name });
      try {
        const v = await uploadFile(file);
        files.push({ id: v.id, name: v.name, size: v.size, mime: v.mime });
      } catch (e) {
        status.textContent = `${file.name}: ${e.display ? e.display() : e.message}`;
        redraw();
        onInput();
        return;
      }
    }
    status.textContent = "";
    redraw();
    onInput();
  });
  redraw();
  const el = h("div.files", { "data-field": field.key }, list, input, status);
  return { el, get: () => (files.length ? files.map((f) => ({ ...f })) : undefined) };
}

/** A relation: search the target form by text and pick records. */
function relationInput(field, value, onInput, common) {
  const picked = new Map();
  for (const id of Array.isArray(value) ? value : value ? [value] : []) picked.set(id, id);
  const chips = h("span.chips");
  const results = h("ul.picker-results", { hidden: true });
  const search = h("input", { ...common, type: "search", placeholder: t("record.relation_search"), on: {} });
  const redraw = () => {
    chips.replaceChildren(...[...picked].map(([id, title]) => h("span.chip",
      title, h("button.chip-x", { type: "button", "aria-label": t("common.remove"), on: { click: () => { picked.delete(id); redraw(); onInput(); } } }, "×"))));
  };
  let seq = 0;
  search.addEventListener("input", async () => {
    const mine = ++seq;
    const q = search.value.trim();
    if (!field.form_id) return;
    try {
      const page = await api.post(`/forms/${field.form_id}/records/query`, { q: q || undefined, limit: 10 });
      if (mine !== seq) return;
      results.replaceChildren(...page.records.map((r) => {
        const title = Object.values(r.data).find((v) => typeof v === "string") || r.id;
        return h("li", h("button.link", {
          type: "button",
          on: {
            click: () => {
              if (!field.multiple) picked.clear();
              picked.set(r.id, title);
              results.hidden = true;
              search.value = "";
              redraw();
              onInput();
            },
          },
        }, title));
      }));
      results.hidden = page.records.length === 0;
    } catch { results.hidden = true; }
  });
  redraw();
  const el = h("div.picker", { "data-field": field.key }, chips, search, results);
  return {
    el,
    get: () => {
      const ids = [...picked.keys()];
      if (!ids.length) return undefined;
      return field.multiple ? ids : ids[0];
    },
    setTitles: (expanded) => {
      const ex = expanded && expanded[field.key];
      for (const x of Array.isArray(ex) ? ex : ex ? [ex] : []) if (picked.has(x.id)) picked.set(x.id, x.title ?? x.id);
      redraw();
    },
  };
}

/** A subform: rows of the sub-fields, added and removed in place. */
function subformInput(field, value, onInput) {
  const subs = field.fields || [];
  const rows = [];
  const body = h("tbody");
  const addRow = (data = {}) => {
    const inputs = subs.map((s) => fieldInput(s, data[s.key], onInput));
    const row = { inputs, tr: null };
    row.tr = h("tr",
      inputs.map((inp, i) => h("td", { "data-sub": subs[i].key }, inp.el)),
      h("td", h("button.icon", {
        type: "button", "aria-label": t("record.remove_row"),
        on: { click: () => { rows.splice(rows.indexOf(row), 1); row.tr.remove(); onInput(); } },
      }, "×")));
    rows.push(row);
    body.append(row.tr);
  };
  for (const r of Array.isArray(value) ? value : []) addRow(r);
  const el = h("div.subform", { "data-field": field.key },
    h("div.table-scroll", h("table.grid.sub",
      h("thead", h("tr", subs.map((s) => h("th", s.label)), h("th"))), body)),
    h("button", { type: "button", on: { click: () => { addRow(); onInput(); } } }, "+ ", t("record.add_row")));
  return {
    el,
    get: () => {
      const out = rows.map((r) => {
        const o = {};
        r.inputs.forEach((inp, i) => { const v = inp.get(); if (v !== undefined) o[subs[i].key] = v; });
        return o;
      });
      return out.length ? out : undefined;
    },
    rowCell: (i, key) => rows[i]?.tr.querySelector(`td[data-sub="${CSS.escape(key)}"]`),
  };
}

/**
 * One labelled row of a record form: the input, its help text and its
 * error slot, which is registered in `errors` under the field's key.
 */
export function formRow(field, inp, errors) {
  const err = h("p.field-error", { id: `err-${field.key}`, hidden: true, "data-error-for": field.key });
  errors.set(field.key, err);
  const wide = ["textarea", "subform", "multiselect"].includes(field.type);
  return h(`div.form-row${wide ? ".wide" : ""}`, { "data-row": field.key },
    h("label.label", { for: `f-${field.key}` }, field.label, field.required ? h("span.req", { "aria-hidden": "true" }, " *") : null),
    inp.el,
    field.help ? h("p.help", field.help) : null,
    err);
}
