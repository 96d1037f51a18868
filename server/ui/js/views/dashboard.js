// Dashboards: an app's list (create one), and a dashboard's page with its
// charts drawn from GET /dashboards/{id}/data. Each chart is configured in
// a dialog (title, kind, form, group by, measure, filter) and saved with
// PUT /dashboards/{id}; the server's field errors show in the dialog.
import { api } from "../api.js";
import { h, dialog, mount, toast } from "../dom.js";
import { t, detailMessage } from "../i18n.js";
import { formsOf, navigate } from "../app.js";
import { createNamed } from "./home.js";
import { drawChart } from "../charts.js";
import { buildFilter, filterBuilder, filterFields } from "../filter.js";
import { valueKind } from "../fields.js";

const KINDS = ["number", "bar", "line", "pie", "funnel", "table"];
const OPS = ["count", "sum", "avg", "min", "max", "ratio", "nps", "churn_rate"];
const BUCKETS = ["day", "week", "month"];

/** The dashboards section of an app's page. */
export async function dashboardsSection(app) {
  const list = await api.get(`/apps/${app.id}/dashboards`);
  const add = h("button", {
    type: "button", "data-testid": "new-dashboard",
    on: { click: () => newDashboard(app) },
  }, "+ ", t("dash.new"));
  return h("section.dash-section",
    h("div.page-head", h("h2", t("dash.title")), h("div.actions", add)),
    list.length === 0
      ? h("p.empty", t("dash.none"))
      : h("ul.cards", { "data-testid": "dashboards" }, list.map((d) => h("li.card",
        h("a.card-link", { href: `/apps/${app.id}/dashboards/${d.id}` }, h("strong", d.name)),
        h("p.muted", t("dash.meta", { charts: (d.definition?.charts ?? []).length }))))));
}

async function newDashboard(app) {
  const made = await createNamed(t("dash.new"), t("dash.name"),
    (name) => api.post(`/apps/${app.id}/dashboards`, { name, charts: [] }));
  if (made) navigate(`/apps/${app.id}/dashboards/${made.id}`);
}

/** One dashboard: its charts, each with edit and remove, and add chart. */
export async function dashboardView(ctx) {
  const appId = ctx.params.app;
  const [dash, forms] = await Promise.all([api.get(`/dashboards/${ctx.params.dashboard}`), formsOf(appId)]);
  const def = structuredClone(dash.definition);
  def.charts = def.charts ?? [];
  const grid = h("div.dash-grid", { "data-testid": "dash-grid" });

  const refresh = async () => {
    let data = { charts: [] };
    try {
      data = await api.get(`/dashboards/${dash.id}/data`);
    } catch (e) {
      mount(grid, h("p.error-banner", { role: "alert" }, e.display()));
      return;
    }
    const byId = new Map(data.charts.map((c) => [c.id, c]));
    mount(grid, def.charts.length === 0
      ? h("p.empty", t("dash.no_charts"))
      : def.charts.map((c, i) => chartCard(c, byId.get(c.id), i)));
  };

  // Saves the whole definition; on refusal the old one stays.
  const save = async (next) => {
    await api.put(`/dashboards/${dash.id}`, next);
    def.charts = next.charts;
    await refresh();
  };

  const chartCard = (c, data, i) => h("figure.card.chart", { "data-testid": "chart", "data-chart": c.id },
    h("figcaption.chart-head",
      h("strong", c.title || c.id),
      h("span.chart-actions",
        h("button.link", {
          type: "button", "data-testid": "chart-up", disabled: i === 0, "aria-label": t("dash.move_up"), title: t("dash.move_up"),
          on: { click: () => move(i, -1) },
        }, "↑"),
        h("button.link", {
          type: "button", "data-testid": "chart-down", disabled: i === def.charts.length - 1, "aria-label": t("dash.move_down"), title: t("dash.move_down"),
          on: { click: () => move(i, 1) },
        }, "↓"),
        h("button.link", { type: "button", "data-testid": "chart-edit", on: { click: () => edit(i) } }, t("dash.edit_chart")),
        h("button.link", {
          type: "button", "data-testid": "chart-remove",
          on: {
            click: async () => {
              if (!confirm(t("dash.remove_confirm", { title: c.title || c.id }))) return;
              try { await save({ ...def, charts: def.charts.filter((_, j) => j !== i) }); } catch (e) { toast(e.display(), "error"); }
            },
          },
        }, t("common.delete")))),
    h("div.chart-body", drawChart(c, data, optionLabels(c))));

  // A grouping select's option labels, so legends read 活跃 Active, not active.
  const optionLabels = (c) => {
    const field = forms.find((f) => f.id === c.form_id)?.fields?.find((x) => x.key === c.group_by?.field);
    const options = field?.options ?? [];
    return options.length ? new Map(options.map((o) => [String(o.value), o.label || String(o.value)])) : null;
  };

  // Reorders the charts; the server keeps the order it is given.
  const move = async (i, by) => {
    const charts = def.charts.slice();
    const [c] = charts.splice(i, 1);
    charts.splice(i + by, 0, c);
    try { await save({ ...def, charts }); } catch (e) { toast(e.display(), "error"); }
  };

  const edit = async (i) => {
    const chart = i === null
      ? { id: freshId(def.charts), kind: "bar", form_id: forms[0]?.id ?? "", measure: { op: "count" } }
      : structuredClone(def.charts[i]);
    const saved = await chartDialog(chart, forms, async (next) => {
      const charts = def.charts.slice();
      if (i === null) charts.push(next); else charts[i] = next;
      await save({ ...def, charts });
    });
    if (saved) toast(t("dash.saved"));
  };

  await refresh();
  const page = h("section.page",
    h("p.crumbs", h("a", { href: `/apps/${appId}` }, t("dash.back"))),
    h("div.page-head", h("h1", dash.name),
      h("div.actions",
        h("button", { type: "button", "data-testid": "dash-refresh", on: { click: refresh } }, t("dash.refresh")),
        h("button.primary", { type: "button", "data-testid": "add-chart", on: { click: () => edit(null) } }, "+ ", t("dash.add_chart")))),
    def.description ? h("p.muted", def.description) : null,
    grid);
  page.dataset.title = dash.name;
  return page;
}

function freshId(charts) {
  for (let n = charts.length + 1; ; n += 1) {
    const id = `chart_${n}`;
    if (!charts.some((c) => c.id === id)) return id;
  }
}

/** The chart dialog; `onSave(chart)` may throw the server's refusal. */
function chartDialog(chart, forms, onSave) {
  const err = h("div.field-error", { hidden: true, role: "alert", "data-testid": "chart-error" });
  const control = (name, label, el) => h("label.field", { "data-field": name }, h("span.label", label), el);
  const title = h("input", { name: "title", value: chart.title ?? "", maxlength: 200 });
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k, selected: k === chart.kind }, t(`chart.kind.${k}`))));
  const form = h("select", { name: "form_id" }, forms.map((f) => h("option", { value: f.id, selected: f.id === chart.form_id }, f.name)));
  const group = h("select", { name: "group_by" });
  const bucket = h("select", { name: "bucket" }, h("option", { value: "" }, "—"), BUCKETS.map((b) => h("option", { value: b }, t(`chart.bucket.${b}`))));
  const op = h("select", { name: "op" }, OPS.map((o) => h("option", { value: o, selected: o === chart.measure?.op }, t(`chart.op.${o}`))));
  const field = h("select", { name: "field" });
  const filter = h("textarea", { name: "filter", rows: 3, spellcheck: false, value: chart.filter ? JSON.stringify(chart.filter) : "" });
  const numerator = h("textarea", { name: "numerator", rows: 2, spellcheck: false, value: chart.measure?.numerator ? JSON.stringify(chart.measure.numerator) : "" });
  const denominator = h("textarea", { name: "denominator", rows: 2, spellcheck: false, value: chart.measure?.denominator ? JSON.stringify(chart.measure.denominator) : "" });
  const order = h("input", { name: "order", value: (chart.order ?? []).join(", "), placeholder: t("chart.order_hint") });
  const builderBox = h("div.dash-filter-builder");
  const numeratorRow = control("numerator", t("chart.numerator"), numerator);
  const denominatorRow = control("denominator", t("chart.denominator"), denominator);
  const orderRow = control("order", t("chart.order"), order);
  const cumulative = h("input", { type: "checkbox", name: "cumulative", checked: Boolean(chart.cumulative) });
  const cumulativeRow = h("label.field.check", { "data-field": "cumulative" }, cumulative, " ", t("chart.cumulative"));
  const bucketRow = control("bucket", t("chart.bucket"), bucket);
  const fieldRow = control("field", t("chart.field"), field);

  const currentForm = () => forms.find((f) => f.id === form.value) ?? forms[0];
  const fillFields = (keepGroup, keepField) => {
    const f = currentForm();
    const all = f ? filterFields(f) : [];
    group.replaceChildren(h("option", { value: "" }, t("chart.no_group")),
      ...all.map((x) => h("option", { value: x.key, selected: x.key === keepGroup }, x.label)));
    // A churn rate measures from the date records started on; the others a number.
    const want = op.value === "churn_rate" ? "date" : "number";
    const measured = (f?.fields ?? []).filter((x) => valueKind(x.type) === want);
    field.replaceChildren(...measured.map((x) => h("option", { value: x.key, selected: x.key === keepField }, x.label)));
    builderBox.replaceChildren(f ? filterBuilder(f, { rows: [], match: "and", tags: [] }, (rows, match) => {
      const built = buildFilter({ rows, match, tags: [] }, all);
      filter.value = built ? JSON.stringify(built) : "";
    }) : "");
    shown();
  };
  const shown = () => {
    const g = filterFields(currentForm() ?? { fields: [] }).find((x) => x.key === group.value);
    bucketRow.hidden = !(g && valueKind(g.type) === "date");
    fieldRow.hidden = !["sum", "avg", "min", "max", "nps", "churn_rate"].includes(op.value);
    numeratorRow.hidden = op.value !== "ratio";
    denominatorRow.hidden = op.value !== "ratio";
    orderRow.hidden = !group.value || !bucketRow.hidden;
    cumulativeRow.hidden = orderRow.hidden || kind.value !== "funnel" || !["count", "sum"].includes(op.value);
  };
  form.addEventListener("change", () => fillFields("", ""));
  group.addEventListener("change", shown);
  op.addEventListener("change", () => fillFields(group.value, field.value));
  kind.addEventListener("change", shown);
  fillFields(chart.group_by?.field ?? "", chart.measure?.field ?? "");
  bucket.value = chart.group_by?.bucket ?? "";

  const parseJson = (el, name) => {
    const text = el.value.trim();
    if (!text) return undefined;
    try { return JSON.parse(text); } catch { throw new Error(t("chart.bad_json", { field: t(`chart.${name}`) })); }
  };
  const collect = () => {
    const next = { ...chart, kind: kind.value, form_id: form.value, measure: { op: op.value } };
    const ttl = title.value.trim();
    if (ttl) next.title = ttl; else delete next.title;
    if (group.value) {
      next.group_by = { field: group.value };
      if (!bucketRow.hidden && bucket.value) next.group_by.bucket = bucket.value;
    } else delete next.group_by;
    if (!fieldRow.hidden && field.value) next.measure.field = field.value;
    if (op.value === "ratio") {
      const n = parseJson(numerator, "numerator");
      if (n !== undefined) next.measure.numerator = n;
      const d = parseJson(denominator, "denominator");
      if (d !== undefined) next.measure.denominator = d;
    }
    const f = parseJson(filter, "filter");
    if (f !== undefined) next.filter = f; else delete next.filter;
    // Category order (funnel stages): keys as typed; numbers stay numbers.
    const keys = orderRow.hidden ? [] : order.value.split(",").map((x) => x.trim()).filter(Boolean)
      .map((x) => (/^-?\d+(\.\d+)?$/.test(x) ? Number(x) : x === "true" ? true : x === "false" ? false : x));
    if (keys.length) next.order = keys; else delete next.order;
    if (!cumulativeRow.hidden && keys.length && cumulative.checked) next.cumulative = true; else delete next.cumulative;
    return next;
  };

  return dialog(t("dash.chart"),
    h("div.chart-form", { "data-testid": "chart-form" },
      control("title", t("chart.title"), title),
      control("kind", t("chart.kind"), kind),
      control("form_id", t("chart.form"), form),
      control("group_by", t("chart.group_by"), group),
      bucketRow,
      control("op", t("chart.measure"), op),
      fieldRow,
      numeratorRow,
      denominatorRow,
      orderRow,
      cumulativeRow,
      control("filter", t("chart.filter"), filter),
      h("details", h("summary", t("chart.build_filter")), builderBox),
      err),
    (close) => [
      h("button", { type: "button", "data-testid": "chart-cancel", on: { click: () => close(null) } }, t("common.cancel")),
      h("button.primary", {
        type: "button", "data-testid": "chart-save",
        on: {
          click: async () => {
            err.hidden = true;
            try {
              const next = collect();
              await onSave(next);
              close(next);
            } catch (e) {
              const lines = e.details?.length
                ? e.details.map((d) => `${d.field.replace(/^charts\/\d+\/?/, "") || t("dash.chart")}: ${detailMessage(d.message)}`)
                : [e.display ? e.display() : e.message];
              mount(err, lines.map((l) => h("div", l)));
              err.hidden = false;
            }
          },
        },
      }, t("common.save")),
    ]);
}
