// Automation rules: an app's list (enabled switch, last run), and the rule
// editor: trigger pickers (record events, cron with the server's preview of
// the next firings, date field N days before/after at a time), condition and
// script in code editors with line numbers where the server's compile errors
// show at their line, a test-run panel and the run log.
import { api, serverKinds, inOrder } from "../api.js";
import { h, debounce, mount, toast } from "../dom.js";
import { t, tOr, detailMessage, formatTime } from "../i18n.js";
import { formsOf, navigate } from "../app.js";
import { valueKind } from "../fields.js";

// The UI's order for the server's trigger kinds, flow events and states
// (GET /kinds says which there are).
const TRIGGERS = ["record_created", "record_updated", "record_deleted", "schedule", "date_field", "manual", "workflow_event"];
const FLOW_EVENTS = ["step_entered", "approved", "rejected", "returned", "finished"];
const FLOW_STATUSES = ["running", "approved", "rejected", "withdrawn", "closed"];

/** The rule's definition as PUT /rules/{id} takes it, from its view. */
function inputOf(rule) {
  const def = { name: rule.name, form_id: rule.form_id, enabled: rule.enabled, trigger: rule.trigger };
  if (rule.description) def.description = rule.description;
  if (rule.condition) def.condition = rule.condition;
  if (rule.actions) def.actions = rule.actions;
  else def.script = rule.script ?? "";
  if (rule.run_as) def.run_as = rule.run_as;
  return def;
}

function outcomeBadge(outcome) {
  return h(`span.badge.outcome-${outcome}`, { "data-outcome": outcome }, t(`rules.outcome.${outcome}`));
}

/** One line saying what fires the rule. */
function triggerText(tr) {
  const kind = tr?.kind ?? "";
  if (kind === "schedule") return `${t("rules.trigger.schedule")} · ${tr.cron}`;
  if (kind === "date_field") {
    const n = Math.abs(tr.offset_days ?? 0);
    const dir = (tr.offset_days ?? 0) < 0 ? t("rules.before") : t("rules.after");
    return `${t("rules.trigger.date_field")} · ${tr.field} ${n} ${t("rules.days")} ${dir} ${tr.at ?? "09:00"}`;
  }
  return tOr(`rules.trigger.${kind}`, kind);
}

/** The rules section of an app's page. */
export async function rulesSection(app) {
  const [rules, forms] = await Promise.all([api.get(`/apps/${app.id}/rules`), formsOf(app.id)]);
  const formName = new Map(forms.map((f) => [f.id, f.name]));
  const row = (r) => {
    const toggle = h("input", {
      type: "checkbox", role: "switch", checked: r.enabled, "data-testid": "rule-enabled",
      "aria-label": t("rules.enabled"),
      on: {
        change: async () => {
          try {
            const saved = await api.put(`/rules/${r.id}`, { ...inputOf(r), enabled: toggle.checked });
            Object.assign(r, saved);
            toast(toggle.checked ? t("rules.turned_on") : t("rules.turned_off"));
          } catch (e) {
            toggle.checked = !toggle.checked;
            toast(e.display(), "error");
          }
        },
      },
    });
    return h("tr", { "data-rule": r.id },
      h("td", h("a", { href: `/apps/${app.id}/rules/${r.id}` }, r.name),
        r.disabled_reason ? h("p.muted.small", r.disabled_reason) : null),
      h("td", formName.get(r.form_id) ?? ""),
      h("td", triggerText(r.trigger)),
      h("td", h("label.switch", toggle)),
      h("td", { "data-testid": "rule-last-run" },
        r.last_run ? [outcomeBadge(r.last_run.outcome), " ", h("span.muted.small", formatTime(r.last_run.at))] : h("span.muted", t("rules.never_ran"))));
  };
  return h("section.rules-section",
    h("div.page-head", h("h2", t("rules.title")),
      h("div.actions", h("a.button", { href: `/apps/${app.id}/rules/new`, "data-testid": "new-rule" }, "+ ", t("rules.new")))),
    rules.length === 0
      ? h("p.empty", t("rules.none"))
      : h("table.grid", { "data-testid": "rules" },
        h("thead", h("tr", ["rules.name", "rules.form", "rules.trigger", "rules.enabled", "rules.last_run"].map((k) => h("th", t(k))))),
        h("tbody", rules.map(row))));
}

/**
 * A code editor: a textarea beside a line-number gutter. `mark(line, msg)`
 * flags one line (the server's compile error) and says what is wrong there.
 */
function codeEditor(name, value, rows) {
  const gutter = h("pre.code-gutter", { "aria-hidden": "true" });
  const area = h("textarea.code-text", {
    name, rows, spellcheck: false, autocomplete: "off", wrap: "off", "data-testid": `code-${name}`,
  });
  area.value = value ?? "";
  const msg = h("p.field-error", { hidden: true, role: "alert", "data-testid": `code-error-${name}` });
  let marked = 0;
  const draw = () => {
    const n = Math.max(area.value.split("\n").length, rows);
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) =>
      h(i + 1 === marked ? "span.code-line.code-line-error" : "span.code-line", { "data-line": i + 1 }, String(i + 1))));
  };
  area.addEventListener("input", () => { marked = 0; msg.hidden = true; draw(); });
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  // Tab indents instead of leaving the editor; Escape then Tab leaves it.
  let escaped = false;
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { escaped = true; return; }
    if (e.key === "Tab" && !e.shiftKey && !escaped) {
      e.preventDefault();
      area.setRangeText("    ", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    }
    escaped = false;
  });
  draw();
  return {
    el: h("div.code-editor", h("div.code-box", gutter, area), msg),
    area,
    get value() { return area.value; },
    mark(line, col, text) {
      marked = line ?? 0;
      draw();
      msg.textContent = line ? `${t("rules.at_line", { line, col: col ?? 1 })}: ${text}` : text;
      msg.hidden = false;
      if (line) {
        const lines = area.value.split("\n");
        const start = lines.slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
        area.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
      }
    },
    clear() { marked = 0; msg.hidden = true; draw(); },
  };
}

/** The trigger picker; `value()` gives the trigger object. */
function triggerPicker(trigger, formOf, kinds) {
  const tr = structuredClone(trigger ?? { kind: "record_created" });
  const kind = h("select", { name: "trigger-kind", "data-testid": "trigger-kind" },
    inOrder(TRIGGERS, kinds.trigger_kinds).map((k) => h("option", { value: k, selected: k === tr.kind }, tOr(`rules.trigger.${k}`, k))));
  const box = h("div.trigger-settings");
  const errs = new Map(); // pointer -> element
  const field = (pointer, label, el) => {
    const err = h("p.field-error", { hidden: true, role: "alert" });
    errs.set(pointer, err);
    return h("label.field", { "data-field": pointer }, h("span.label", label), el, err);
  };
  let read = () => ({ kind: kind.value });

  const preview = h("ol.cron-preview", { "data-testid": "cron-preview" });
  const showPreview = debounce(async (cron, timezone) => {
    try {
      const p = await api.post("/schedules/preview", { cron, timezone: timezone || undefined, count: 5 });
      const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short", timeZone: p.timezone });
      mount(preview, h("li.muted", t("rules.next_runs", { tz: p.timezone })),
        p.times.map((x) => h("li", { "data-time": x }, fmt.format(new Date(x)))));
    } catch (e) {
      mount(preview, h("li.field-error", e.details.map((d) => `${d.field}: ${detailMessage(d.message)}`).join("; ") || e.display()));
    }
  }, 250);

  const draw = () => {
    errs.clear();
    const form = formOf();
    const fields = form?.fields ?? [];
    switch (kind.value) {
      case "record_updated": {
        const picked = new Set(tr.fields ?? []);
        const boxes = fields.map((f) => h("label.check",
          h("input", { type: "checkbox", value: f.key, checked: picked.has(f.key), "data-testid": "trigger-field" }), " ", f.label));
        mount(box, field("/trigger/fields", t("rules.changed_fields"), h("div.checks", boxes)),
          h("p.muted.small", t("rules.changed_fields_hint")));
        read = () => {
          const keys = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
          return keys.length ? { kind: "record_updated", fields: keys } : { kind: "record_updated" };
        };
        break;
      }
      case "schedule": {
        const cron = h("input", { name: "cron", value: tr.cron ?? "0 9 * * 1", "data-testid": "cron", placeholder: "30 9 * * 1-5" });
        const tz = h("input", { name: "timezone", value: tr.timezone ?? "", placeholder: t("rules.tenant_zone") });
        const again = () => showPreview(cron.value.trim(), tz.value.trim());
        cron.addEventListener("input", again);
        tz.addEventListener("input", again);
        mount(box, field("/trigger/cron", t("rules.cron"), cron),
          h("p.muted.small", t("rules.cron_hint")),
          field("/trigger/timezone", t("rules.timezone"), tz), preview);
        again();
        read = () => ({ kind: "schedule", cron: cron.value.trim(), ...(tz.value.trim() ? { timezone: tz.value.trim() } : {}) });
        break;
      }
      case "date_field": {
        const dates = fields.filter((f) => valueKind(f.type) === "date");
        const key = h("select", { name: "date-field", "data-testid": "date-field" },
          dates.map((f) => h("option", { value: f.key, selected: f.key === tr.field }, f.label)));
        const off = tr.offset_days ?? 0;
        const days = h("input", { type: "number", name: "days", min: 0, max: 3660, value: Math.abs(off), "data-testid": "offset-days" });
        const dir = h("select", { name: "direction", "data-testid": "offset-dir" },
          h("option", { value: "before", selected: off < 0 }, t("rules.before")),
          h("option", { value: "after", selected: off >= 0 }, t("rules.after")));
        const at = h("input", { type: "time", name: "at", value: tr.at ?? "09:00", "data-testid": "at" });
        const repeat = h("select", { name: "repeat" },
          ["yearly", "once"].map((r) => h("option", { value: r, selected: r === (tr.repeat ?? "yearly") }, t(`rules.repeat.${r}`))));
        mount(box, field("/trigger/field", t("rules.date_field"), key),
          h("div.row", field("/trigger/offset_days", t("rules.days"), days), field("/trigger/offset_days", t("rules.direction"), dir),
            field("/trigger/at", t("rules.at"), at)),
          field("/trigger/repeat", t("rules.repeat"), repeat),
          dates.length ? null : h("p.field-error", t("rules.no_date_fields")));
        read = () => ({
          kind: "date_field", field: key.value,
          offset_days: (dir.value === "before" ? -1 : 1) * Number(days.value || 0),
          at: at.value, repeat: repeat.value,
          ...(tr.timezone ? { timezone: tr.timezone } : {}),
        });
        break;
      }
      case "workflow_event": {
        const ev = h("select", { name: "event" },
          h("option", { value: "" }, t("rules.any_event")),
          inOrder(FLOW_EVENTS, kinds.workflow_events).map((x) => h("option", { value: x, selected: x === tr.event }, tOr(`rules.flow_event.${x}`, x))));
        const node = h("input", { name: "node", value: tr.node ?? "", placeholder: t("rules.any_node") });
        const status = h("select", { name: "status" },
          h("option", { value: "" }, t("rules.any_status")),
          inOrder(FLOW_STATUSES, kinds.flow_statuses).map((x) => h("option", { value: x, selected: x === tr.status }, tOr(`rules.flow_status.${x}`, x))));
        mount(box, field("/trigger/event", t("rules.flow_event"), ev), field("/trigger/node", t("rules.node"), node),
          field("/trigger/status", t("rules.flow_status"), status));
        read = () => ({
          kind: "workflow_event",
          ...(ev.value ? { event: ev.value } : {}),
          ...(node.value.trim() ? { node: node.value.trim() } : {}),
          ...(status.value ? { status: status.value } : {}),
        });
        break;
      }
      default:
        mount(box, h("p.muted.small", tOr(`rules.hint.${kind.value}`, "")));
        read = () => ({ kind: kind.value });
    }
  };
  kind.addEventListener("change", () => { Object.assign(tr, { kind: kind.value }); draw(); });
  return {
    el: h("fieldset.trigger", h("legend", t("rules.trigger")), h("label.field", { "data-field": "/trigger/kind" },
      h("span.label", t("rules.trigger_kind")), kind), box),
    value: () => read(),
    redraw: () => { Object.assign(tr, read()); draw(); },
    /** Shows a trigger error; false when the pointer is not one of ours. */
    showError(pointer, message) {
      const el = errs.get(pointer) ?? errs.get(pointer.replace(/\/\d+$/, ""));
      if (!el) return false;
      el.textContent = message;
      el.hidden = false;
      return true;
    },
    clearErrors() { for (const el of errs.values()) el.hidden = true; },
    init: draw,
  };
}

/** The rule editor: `/apps/{app}/rules/new` and `/apps/{app}/rules/{id}`. */
export async function ruleView(ctx) {
  const appId = ctx.params.app;
  const id = ctx.params.rule;
  const [forms, kinds] = await Promise.all([formsOf(appId), serverKinds()]);
  const rule = id ? await api.get(`/rules/${id}`) : {
    name: "", form_id: forms[0]?.id ?? "", enabled: true, trigger: { kind: "record_created" }, script: "",
  };
  const name = h("input", { name: "name", value: rule.name, required: true, maxlength: 200, "data-testid": "rule-name" });
  const description = h("input", { name: "description", value: rule.description ?? "", maxlength: 2000 });
  const formSel = h("select", { name: "form", "data-testid": "rule-form" },
    forms.map((f) => h("option", { value: f.id, selected: f.id === rule.form_id }, f.name)));
  const enabled = h("input", { type: "checkbox", role: "switch", checked: rule.enabled, name: "enabled" });
  const formOf = () => forms.find((f) => f.id === formSel.value);
  const trigger = triggerPicker(rule.trigger, formOf, kinds);
  formSel.addEventListener("change", () => trigger.redraw());
  const condition = codeEditor("condition", rule.condition ?? "", 2);
  const usesActions = Array.isArray(rule.actions);
  const script = codeEditor("script", usesActions ? JSON.stringify(rule.actions, null, 2) : rule.script ?? "", 14);
  const banner = h("div.error-banner", { hidden: true, role: "alert", "data-testid": "rule-error" });
  const fieldErr = new Map([["/name", name], ["/form_id", formSel], ["/description", description]]);

  const definition = () => {
    const def = {
      name: name.value.trim(), form_id: formSel.value, enabled: enabled.checked, trigger: trigger.value(),
    };
    if (description.value.trim()) def.description = description.value.trim();
    if (condition.value.trim()) def.condition = condition.value;
    if (usesActions) {
      try { def.actions = JSON.parse(script.value); } catch { def.actions = script.value; }
    } else def.script = script.value;
    if (rule.run_as) def.run_as = rule.run_as;
    return def;
  };

  const showErrors = (e) => {
    const rest = [];
    for (const d of e.details) {
      const msg = detailMessage(d.message);
      const part = d.field.replace(/^\//, "");
      if (part === "condition" || part === "script" || part.startsWith("actions")) {
        (part === "condition" ? condition : script).mark(d.line, d.column, msg);
      } else if (d.field.startsWith("/trigger") && trigger.showError(d.field, msg)) {
        // shown at its control
      } else if (fieldErr.has(d.field)) {
        const el = fieldErr.get(d.field);
        el.setAttribute("aria-invalid", "true");
        rest.push(`${el.name}: ${msg}`);
      } else rest.push(`${d.field}: ${msg}`);
    }
    banner.textContent = rest.length ? `${e.display()} — ${rest.join("; ")}` : e.display();
    banner.hidden = false;
  };

  const save = async () => {
    banner.hidden = true;
    condition.clear();
    script.clear();
    trigger.clearErrors();
    for (const el of fieldErr.values()) el.removeAttribute("aria-invalid");
    try {
      const saved = id
        ? await api.put(`/rules/${id}`, definition())
        : await api.post(`/apps/${appId}/rules`, definition());
      toast(t("rules.saved", { version: saved.version }));
      if (!id) navigate(`/apps/${appId}/rules/${saved.id}`, { replace: true });
      else ctx.rerender();
    } catch (e) {
      showErrors(e);
    }
  };

  const remove = async () => {
    if (!confirm(t("rules.delete_confirm", { name: rule.name }))) return;
    try {
      await api.del(`/rules/${id}`);
      navigate(`/apps/${appId}`);
    } catch (e) { toast(e.display(), "error"); }
  };

  trigger.init();
  const page = h("section.page.rule-editor",
    h("p.crumbs", h("a", { href: `/apps/${appId}` }, t("rules.back"))),
    h("div.page-head", h("h1", id ? rule.name : t("rules.new")),
      h("div.actions",
        id ? h("span.muted", t("rules.version", { version: rule.version })) : null,
        id ? h("button", { type: "button", on: { click: remove } }, t("common.delete")) : null,
        h("button.primary", { type: "button", "data-testid": "rule-save", on: { click: save } }, t("common.save")))),
    rule.disabled_reason ? h("p.error-banner", rule.disabled_reason) : null,
    banner,
    h("div.rule-grid",
      h("div.rule-main",
        h("label.field", h("span.label", t("rules.name")), name),
        h("label.field", h("span.label", t("rules.description")), description),
        h("div.row",
          h("label.field", h("span.label", t("rules.form")), formSel),
          h("label.field.check", enabled, " ", t("rules.enabled"))),
        trigger.el,
        h("div.field", h("span.label", t("rules.condition")), h("p.muted.small", t("rules.condition_hint")), condition.el),
        h("div.field", h("span.label", usesActions ? t("rules.actions") : t("rules.script")),
          h("p.muted.small", t("rules.script_hint")), script.el)),
      id ? h("div.rule-side", testPanel(id, formOf), await runLog(id)) : h("p.muted", t("rules.save_first"))));
  page.dataset.title = id ? rule.name : t("rules.new");
  return page;
}

/** Test-run: a record (picked from the form, or typed as JSON) and an instant. */
function testPanel(ruleId, formOf) {
  const pick = h("select", { name: "test-record", "data-testid": "test-record" }, h("option", { value: "" }, t("rules.typed_record")));
  const typed = h("textarea.code-text", { name: "test-values", rows: 4, spellcheck: false, "data-testid": "test-values", placeholder: '{"name": "Ann"}' });
  const instant = h("input", { type: "datetime-local", name: "test-at", "data-testid": "test-at" });
  const out = h("div.test-out", { "data-testid": "test-out" });
  const load = async () => {
    const form = formOf();
    if (!form) return;
    try {
      const page = await api.get(`/forms/${form.id}/records?limit=50`);
      const named = form.fields.find((f) => f.type === "text" || f.type === "serial")?.key;
      for (const r of page.records ?? []) {
        const title = (named && r.data[named]) || Object.values(r.data).find((v) => typeof v === "string") || r.id;
        pick.append(h("option", { value: r.id }, title));
      }
    } catch { /* the typed record still works */ }
  };
  const run = async () => {
    const body = {};
    if (pick.value) body.record_id = pick.value;
    else if (typed.value.trim()) {
      try { body.record = JSON.parse(typed.value); } catch {
        mount(out, h("p.field-error", t("rules.bad_json")));
        return;
      }
    }
    if (instant.value) body.at = new Date(instant.value).toISOString();
    try {
      const r = await api.post(`/rules/${ruleId}/test`, body);
      mount(out,
        h("p", { "data-testid": "test-condition" }, r.condition ? t("rules.condition_true") : t("rules.condition_false")),
        r.error ? h("p.field-error", { "data-testid": "test-error" }, r.error.message,
          ...(r.error.details ?? []).filter((d) => d.line).map((d) => ` (${t("rules.at_line", { line: d.line, col: d.column ?? 1 })})`)) : null,
        h("h4", t("rules.effects")),
        (r.effects ?? []).length
          ? h("ol.effects", { "data-testid": "test-effects" }, r.effects.map((e) => h("li", h("code", JSON.stringify(e)))))
          : h("p.muted", t("rules.no_effects")),
        h("h4", t("rules.logs")),
        (r.logs ?? []).length
          ? h("pre.logs", { "data-testid": "test-logs" }, r.logs.join("\n"))
          : h("p.muted", t("rules.no_logs")));
    } catch (e) {
      mount(out, h("p.field-error", e.display()));
    }
  };
  load();
  return h("section.card.test-panel", h("h3", t("rules.test")),
    h("label.field", h("span.label", t("rules.test_record")), pick),
    h("label.field", h("span.label", t("rules.test_values")), typed),
    h("label.field", h("span.label", t("rules.test_at")), instant),
    h("button", { type: "button", "data-testid": "test-run", on: { click: run } }, t("rules.run_test")),
    out);
}

/** The run log, newest first, a page at a time. */
async function runLog(ruleId) {
  const body = h("tbody");
  const more = h("button.link", { type: "button", hidden: true }, t("rules.more_runs"));
  let cursor = null;
  const load = async () => {
    const page = await api.get(`/rules/${ruleId}/runs?limit=20${cursor ? `&cursor=${cursor}` : ""}`);
    for (const r of page.runs) {
      body.append(h("tr", { "data-run": r.id },
        h("td", formatTime(r.finished_at)),
        h("td", outcomeBadge(r.outcome)),
        h("td", r.detail?.trigger ?? ""),
        h("td.small", r.detail?.record_id ?? ""),
        h("td", `${r.duration_ms} ms`),
        h("td.small", r.error ?? r.detail?.reason ?? (r.detail?.logs ?? []).join(" · "))));
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => load().catch((e) => toast(e.display(), "error")));
  await load();
  return h("section.card.run-log", h("h3", t("rules.runs")),
    body.children.length === 0 ? h("p.muted", t("rules.no_runs")) : null,
    h("table.grid", { "data-testid": "runs" },
      h("thead", h("tr", ["rules.run_at", "rules.outcome", "rules.trigger", "rules.record", "rules.duration", "rules.detail"].map((k) => h("th", t(k))))),
      body),
    more);
}
