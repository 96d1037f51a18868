// The filter builder: rows of field / op / value that write the API's
// filter language ({"and":[{"field","op","value"}, ...]}), including the
// date relatives within_days, days_ago and in_period (this / last / next
// calendar period), and `$me` for member fields.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { opsFor, valueKind } from "./fields.js";

/** Fields a filter can name: the form's plus the record timestamps. */
export function filterFields(form) {
  return [
    ...form.fields.filter((f) => f.type !== "subform"),
    { key: "_created_at", label: t("table.created_at"), type: "_created_at" },
    { key: "_updated_at", label: t("table.updated_at"), type: "_updated_at" },
  ];
}

const NO_VALUE = new Set(["empty", "not_empty"]);

/** The API condition for one builder row, or null when it is incomplete. */
export function toCondition(row, field) {
  if (!field) return null;
  const { op } = row;
  if (NO_VALUE.has(op)) return { field: field.key, op };
  const kind = valueKind(field.type);
  const scalar = (s) => {
    if (s === undefined || s === null) return undefined;
    const v = String(s).trim();
    if (v === "") return undefined;
    if (kind === "number") { const n = Number(v); return Number.isFinite(n) ? n : v; }
    if (kind === "bool") return v === "true";
    return v;
  };
  if (op === "between") {
    const a = scalar(row.value), b = scalar(row.value2);
    return a === undefined || b === undefined ? null : { field: field.key, op, value: [a, b] };
  }
  if (op === "in" || op === "nin") {
    const list = String(row.value ?? "").split(/[,，]/).map(scalar).filter((v) => v !== undefined);
    return list.length ? { field: field.key, op, value: list } : null;
  }
  if (op === "within_days" || op === "days_ago") {
    const n = Number(row.value);
    if (!Number.isInteger(n) || n < 0) return null;
    return { field: field.key, op, value: op === "within_days" && row.value2 === "next" ? { next: n } : n };
  }
  if (op === "in_period") {
    return { field: field.key, op, value: { unit: row.value || "week", offset: Number(row.value2 || 0) } };
  }
  const v = scalar(row.value);
  return v === undefined ? null : { field: field.key, op, value: v };
}

const UNITS = ["day", "week", "month", "quarter", "year"];
const OFFSETS = ["-1", "0", "1"];

/** The whole filter: conditions joined by `match` (and/or), and every tag required. */
export function buildFilter(state, fields) {
  const conds = state.rows
    .map((r) => toCondition(r, fields.find((f) => f.key === r.field)))
    .filter(Boolean);
  const parts = [];
  if (conds.length === 1) parts.push(conds[0]);
  else if (conds.length > 1) parts.push({ [state.match === "or" ? "or" : "and"]: conds });
  for (const tag of state.tags) parts.push({ tag });
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { and: parts };
}

/** The builder panel; `onApply(rows, match)` when the user applies it. */
export function filterBuilder(form, state, onApply) {
  const fields = filterFields(form);
  const rows = state.rows.map((r) => ({ ...r }));
  let match = state.match || "and";
  const list = h("div.filter-rows");
  const preview = h("pre.filter-json", { "data-testid": "filter-json" });

  const refresh = () => {
    list.replaceChildren(...rows.map((row, i) => rowEl(row, i)));
    const f = buildFilter({ rows, match, tags: state.tags }, fields);
    preview.textContent = f ? JSON.stringify(f, null, 1) : "—";
  };

  const rowEl = (row, i) => {
    const field = fields.find((f) => f.key === row.field) ?? fields[0];
    row.field = field.key;
    const ops = opsFor(field.type);
    if (!ops.includes(row.op)) row.op = ops[0];
    const set = (k) => (e) => { row[k] = e.target.value; refresh(); };
    const setQuiet = (k) => (e) => {
      row[k] = e.target.value;
      const f = buildFilter({ rows, match, tags: state.tags }, fields);
      preview.textContent = f ? JSON.stringify(f, null, 1) : "—";
    };
    return h("div.filter-row", { "data-testid": "filter-row" },
      h("select", { "aria-label": t("filter.field"), "data-role": "field", on: { change: (e) => { row.field = e.target.value; row.value = ""; row.value2 = ""; refresh(); } } },
        fields.map((f) => h("option", { value: f.key, selected: f.key === field.key }, f.label))),
      h("select", { "aria-label": t("filter.op"), "data-role": "op", on: { change: set("op") } },
        ops.map((op) => h("option", { value: op, selected: op === row.op }, t(`op.${op}`)))),
      valueInputs(field, row, setQuiet),
      h("button.icon", { type: "button", "aria-label": t("filter.remove"), on: { click: () => { rows.splice(i, 1); refresh(); } } }, "×"));
  };

  refresh();
  return h("div.filter-panel", { "data-testid": "filter-panel" },
    h("div.filter-head",
      h("label", t("filter.match"), " ",
        h("select", { "data-role": "match", on: { change: (e) => { match = e.target.value; refresh(); } } },
          h("option", { value: "and", selected: match === "and" }, t("filter.all")),
          h("option", { value: "or", selected: match === "or" }, t("filter.any"))))),
    list,
    h("div.filter-actions",
      h("button", { type: "button", "data-testid": "filter-add", on: { click: () => { rows.push({ field: fields[0].key, op: "", value: "" }); refresh(); } } }, "+ ", t("filter.add")),
      h("button.primary", { type: "button", "data-testid": "filter-apply", on: { click: () => onApply(rows, match) } }, t("filter.apply")),
      h("button", { type: "button", on: { click: () => { rows.length = 0; refresh(); onApply(rows, match); } } }, t("filter.clear"))),
    h("details", h("summary", t("filter.json")), preview));
}

function valueInputs(field, row, set) {
  const { op } = row;
  if (NO_VALUE.has(op)) return h("span.filter-value");
  const kind = valueKind(field.type);
  const inputType = kind === "date" ? (op === "within_days" || op === "days_ago" ? "number" : "date") : kind === "number" ? "number" : "text";
  const input = (k, label) => h("input", {
    type: inputType, value: row[k] ?? "", "aria-label": label, "data-role": k,
    min: inputType === "number" && kind === "date" ? 0 : undefined,
    on: { input: set(k) },
  });
  if (op === "between") return h("span.filter-value", input("value", t("filter.from")), h("span", "–"), input("value2", t("filter.to")));
  if (op === "within_days") {
    return h("span.filter-value", input("value", t("filter.days")),
      h("select", { "aria-label": t("filter.direction"), "data-role": "value2", on: { change: set("value2") } },
        h("option", { value: "past", selected: row.value2 !== "next" }, t("filter.past")),
        h("option", { value: "next", selected: row.value2 === "next" }, t("filter.next"))));
  }
  if (op === "days_ago") return h("span.filter-value", input("value", t("filter.days")));
  if (op === "in_period") {
    const offset = String(row.value2 || 0);
    const unit = row.value || "week";
    return h("span.filter-value",
      h("select", { "aria-label": t("filter.offset"), "data-role": "value2", on: { change: set("value2") } },
        OFFSETS.map((o) => h("option", { value: o, selected: o === offset }, t(`filter.offset.${o}`)))),
      h("select", { "aria-label": t("filter.unit"), "data-role": "value", on: { change: set("value") } },
        UNITS.map((u) => h("option", { value: u, selected: u === unit }, t(`filter.unit.${u}`)))));
  }
  if (kind === "bool") {
    return h("span.filter-value", h("select", { "data-role": "value", "aria-label": t("filter.value"), on: { change: set("value") } },
      h("option", { value: "" }, "—"),
      h("option", { value: "true", selected: row.value === "true" }, t("common.yes")),
      h("option", { value: "false", selected: row.value === "false" }, t("common.no"))));
  }
  if ((field.type === "select" || field.type === "multiselect") && (op === "eq" || op === "ne" || op === "contains")) {
    return h("span.filter-value", h("select", { "data-role": "value", "aria-label": t("filter.value"), on: { change: set("value") } },
      h("option", { value: "" }, "—"),
      (field.options || []).map((o) => h("option", { value: o.value, selected: row.value === o.value }, o.label || o.value))));
  }
  const el = input("value", op === "in" || op === "nin" ? t("filter.list") : t("filter.value"));
  if (op === "in" || op === "nin") el.type = "text";
  if (field.type === "member" && (op === "eq" || op === "ne")) {
    // `$me` is whoever looks at the view, so one saved view serves everyone.
    const me = h("button", { type: "button", "data-testid": "filter-me", on: { click: () => { el.value = "$me"; el.dispatchEvent(new Event("input")); } } }, t("filter.me"));
    return h("span.filter-value", el, me);
  }
  return h("span.filter-value", el);
}
