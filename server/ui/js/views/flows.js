// Approval flows of a form: the list, and the flow editor. A flow is drawn
// as a vertical chart of its nodes from the start node down; steps are
// added after a node, removed (their edges rejoined) and configured in a
// side panel: assignees, any/all, a field-permission grid, timeout, and the
// branch conditions on the edges leaving the node. The server checks the
// whole graph; its errors are shown at the node they name.
import { api } from "../api.js";
import { h, mount, toast } from "../dom.js";
import { t, detailMessage } from "../i18n.js";
import { navigate } from "../app.js";
import { loadForm } from "./record.js";

const STEP_KINDS = ["approve", "fill", "cc", "condition", "parallel", "join"];
const PERMS = ["hidden", "read", "edit"];
const THEN = ["remind", "approve", "reject", "escalate"];
const HAS_ASSIGNEES = new Set(["approve", "fill", "cc"]);
const HAS_FIELDS = new Set(["start", "approve", "fill"]);

/** `/apps/{app}/forms/{form}/flows` */
export async function flowsView(ctx) {
  const { app: appId, form: formId } = ctx.params;
  const [form, flows] = await Promise.all([loadForm(appId, formId), api.get(`/forms/${formId}/workflows`)]);
  const page = h("section.page",
    h("p.crumbs", h("a", { href: `/apps/${appId}` }, t("flow.back_app"))),
    h("div.page-head", h("h1", t("flow.title", { form: form.name })),
      h("div.actions", h("a.button.primary", { href: `/apps/${appId}/forms/${formId}/flows/new`, "data-testid": "new-flow" }, "+ ", t("flow.new")))),
    flows.length === 0
      ? h("p.empty", t("flow.none"))
      : h("ul.cards", { "data-testid": "flows" }, flows.map((f) => h("li.card",
        h("a.card-link", { href: `/apps/${appId}/forms/${formId}/flows/${f.id}` }, h("strong", f.name)),
        h("p.muted", t("flow.meta", { version: f.version, nodes: (f.definition?.nodes ?? []).length }),
          f.active ? h("span.badge.outcome-succeeded", " ", t("flow.active")) : null)))));
  page.dataset.title = form.name;
  return page;
}

/** A fresh node id of `kind` not used in `def`. */
function freshId(def, kind) {
  for (let n = 1; ; n += 1) {
    const id = `${kind}_${n}`;
    if (!def.nodes.some((x) => x.id === id)) return id;
  }
}

/** The nodes from the start down (breadth first), then any unreachable. */
function ordered(def) {
  const out = [];
  const seen = new Set();
  const queue = def.nodes.filter((n) => n.kind === "start").map((n) => n.id);
  while (queue.length) {
    const id = queue.shift();
    if (seen.has(id)) continue;
    seen.add(id);
    const node = def.nodes.find((n) => n.id === id);
    if (!node) continue;
    out.push(node);
    for (const e of def.edges) if (e.from === id && !seen.has(e.to)) queue.push(e.to);
  }
  // Ends last, so the chart reads top to bottom.
  const ends = out.filter((n) => n.kind === "end");
  return [...out.filter((n) => n.kind !== "end"), ...def.nodes.filter((n) => !seen.has(n.id)), ...ends];
}

/**
 * Inserts a new step of `kind` after `id`. A node with one way out hands it
 * to the new step; a node with branches gets the step on its first branch.
 */
export function insertAfter(def, id, kind) {
  const node = { id: freshId(def, kind), kind, name: "" };
  if (HAS_ASSIGNEES.has(kind)) { node.assignees = { initiator: true }; node.mode = "any"; }
  def.nodes.push(node);
  const out = def.edges.filter((e) => e.from === id);
  const via = out[0] ?? { from: id, to: def.nodes.find((n) => n.kind === "end")?.id ?? "end" };
  const onward = kind === "condition" ? { from: node.id, to: via.to, default: true } : { from: node.id, to: via.to };
  if (out.length > 1) {
    via.to = node.id;
    def.edges.push(onward);
  } else {
    def.edges = [...def.edges.filter((e) => e.from !== id), { ...via, from: id, to: node.id }, onward];
  }
  return node.id;
}

/** Removes a step: edges into it go where its first (or default) edge went. */
export function removeNode(def, id) {
  const out = def.edges.filter((e) => e.from === id);
  const next = (out.find((e) => e.default) ?? out[0])?.to;
  def.edges = def.edges
    .filter((e) => e.from !== id)
    .map((e) => (e.to === id ? { ...e, to: next } : e))
    .filter((e) => e.to !== undefined);
  def.nodes = def.nodes.filter((n) => n.id !== id);
}

/** Adds a branch to a condition or parallel node: a new approve step rejoining where the default goes. */
function addBranch(def, id) {
  const out = def.edges.filter((e) => e.from === id);
  const rejoin = (out.find((e) => e.default) ?? out[0])?.to ?? def.nodes.find((n) => n.kind === "end")?.id;
  const node = { id: freshId(def, "approve"), kind: "approve", name: "", assignees: { initiator: true }, mode: "any" };
  def.nodes.push(node);
  const kind = def.nodes.find((n) => n.id === id)?.kind;
  def.edges.push(kind === "condition" ? { from: id, to: node.id, when: "true" } : { from: id, to: node.id });
  def.edges.push({ from: node.id, to: rejoin });
  return node.id;
}

function summary(node, members) {
  const a = node.assignees ?? {};
  const who = [
    ...(a.users ?? []).map((u) => members.get(u) ?? u),
    ...(a.roles ?? []).map((r) => `${t("flow.role")} ${r}`),
    a.field ? `${t("flow.field_member")} ${a.field}` : null,
    a.initiator ? t("flow.initiator") : null,
    a.initiator_manager ? t("flow.initiator_manager") : null,
    a.previous ? t("flow.previous") : null,
  ].filter(Boolean);
  const parts = [];
  if (who.length) parts.push(who.join(", "));
  if (node.mode) parts.push(t(`flow.mode.${node.mode}`));
  if (node.timeout) parts.push(t("flow.timeout_short", { hours: node.timeout.hours }));
  return parts.join(" · ");
}

/** `/apps/{app}/forms/{form}/flows/new` and `…/flows/{id}` */
export async function flowView(ctx) {
  const { app: appId, form: formId, flow: flowId } = ctx.params;
  const form = await loadForm(appId, formId);
  const flow = flowId ? await api.get(`/workflows/${flowId}`) : null;
  let memberList = [];
  try { memberList = await api.get("/members"); } catch { memberList = []; }
  const members = new Map(memberList.map((m) => [m.user_id, m.display_name || m.email]));
  const def = structuredClone(flow?.definition ?? {
    name: "", nodes: [{ id: "start", kind: "start" }, { id: "approve_1", kind: "approve", name: "", assignees: { initiator: true }, mode: "any" }, { id: "end", kind: "end" }],
    edges: [{ from: "start", to: "approve_1" }, { from: "approve_1", to: "end" }],
  });
  def.name = def.name ?? flow?.name ?? "";
  let selected = def.nodes.find((n) => n.kind !== "start" && n.kind !== "end")?.id ?? "start";
  let nodeErrors = new Map(); // node id -> messages

  const chart = h("ol.flow-chart", { "data-testid": "flow-chart" });
  const panel = h("aside.card.flow-panel", { "data-testid": "node-panel" });
  const banner = h("div.error-banner", { hidden: true, role: "alert", "data-testid": "flow-error" });
  const name = h("input", { name: "flow-name", value: def.name, maxlength: 200, "data-testid": "flow-name" });
  const active = h("input", { type: "checkbox", name: "active", checked: flow ? flow.active : true });

  const redraw = () => { drawChart(); drawPanel(); };

  const drawChart = () => mount(chart, ordered(def).map((node, i) => {
    const out = def.edges.filter((e) => e.from === node.id);
    const errs = nodeErrors.get(node.id) ?? [];
    const branchy = node.kind === "condition" || node.kind === "parallel";
    return h("li.flow-item", { "data-node": node.id },
      i > 0 ? h("div.flow-arrow", { "aria-hidden": "true" }, "↓") : null,
      h(`div.flow-node.kind-${node.kind}${node.id === selected ? ".selected" : ""}${errs.length ? ".invalid" : ""}`, {
        tabindex: 0, role: "button", "aria-pressed": String(node.id === selected),
        on: {
          click: () => { selected = node.id; redraw(); },
          keydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selected = node.id; redraw(); } },
        },
      },
      h("div.flow-node-head", h("span.badge", t(`flow.kind.${node.kind}`)), " ", h("strong", node.name || node.id)),
      h("p.muted.small", summary(node, members)),
      branchy && out.length ? h("ul.flow-branches", out.map((e) => h("li",
        e.default ? t("flow.default_branch") : (e.when ?? ""), " → ", def.nodes.find((n) => n.id === e.to)?.name || e.to))) : null,
      errs.map((m) => h("p.field-error", { "data-testid": "node-error" }, m))),
      node.kind !== "end"
        ? h("div.flow-add",
          h("select", { "aria-label": t("flow.add_kind"), "data-testid": "add-kind" }, STEP_KINDS.map((k) => h("option", { value: k }, t(`flow.kind.${k}`)))),
          h("button.link", {
            type: "button", "data-testid": "add-after",
            on: { click: (e) => { selected = insertAfter(def, node.id, e.currentTarget.previousSibling.value); redraw(); } },
          }, "+ ", t("flow.add_step")))
        : null);
  }));

  const drawPanel = () => {
    const node = def.nodes.find((n) => n.id === selected);
    if (!node) { mount(panel, h("p.muted", t("flow.pick_node"))); return; }
    const set = (k, v) => { if (v === undefined || v === "" || (Array.isArray(v) && !v.length)) delete node[k]; else node[k] = v; drawChart(); };
    const rows = [h("h3", t(`flow.kind.${node.kind}`), " ", h("code", node.id))];
    rows.push(h("label.field", h("span.label", t("flow.node_name")),
      h("input", { name: "node-name", value: node.name ?? "", "data-testid": "node-name", on: { input: (e) => set("name", e.target.value) } })));
    if (HAS_ASSIGNEES.has(node.kind)) {
      const a = node.assignees ?? (node.assignees = {});
      const setA = (k, v) => {
        if (v === undefined || v === false || v === "" || (Array.isArray(v) && !v.length)) delete a[k]; else a[k] = v;
        drawChart();
      };
      const memberFields = form.fields.filter((f) => f.type === "member");
      rows.push(h("fieldset", h("legend", t("flow.assignees")),
        memberList.length ? h("div.checks", { "data-testid": "assignee-users" }, memberList.map((m) => h("label.check",
          h("input", {
            type: "checkbox", value: m.user_id, checked: (a.users ?? []).includes(m.user_id),
            on: { change: (e) => setA("users", e.target.checked ? [...(a.users ?? []), m.user_id] : (a.users ?? []).filter((u) => u !== m.user_id)) },
          }), " ", m.display_name || m.email))) : null,
        h("label.field", h("span.label", t("flow.roles")), h("input", {
          name: "roles", value: (a.roles ?? []).join(", "), placeholder: "sales_manager, finance",
          on: { input: (e) => setA("roles", e.target.value.split(",").map((x) => x.trim()).filter(Boolean)) },
        })),
        memberFields.length ? h("label.field", h("span.label", t("flow.field_member")), h("select", {
          name: "assignee-field", on: { change: (e) => setA("field", e.target.value) },
        }, h("option", { value: "" }, "—"), memberFields.map((f) => h("option", { value: f.key, selected: a.field === f.key }, f.label)))) : null,
        ["initiator", "initiator_manager", "previous"].map((k) => h("label.check",
          h("input", { type: "checkbox", name: k, checked: !!a[k], on: { change: (e) => setA(k, e.target.checked) } }), " ", t(`flow.${k}`)))));
      if (node.kind !== "cc") {
        rows.push(h("label.field", h("span.label", t("flow.mode")), h("select", {
          name: "mode", "data-testid": "node-mode", on: { change: (e) => set("mode", e.target.value) },
        }, ["any", "all"].map((m) => h("option", { value: m, selected: (node.mode ?? "any") === m }, t(`flow.mode.${m}`))))));
      }
    }
    if (HAS_FIELDS.has(node.kind)) {
      const perms = node.fields ?? {};
      rows.push(h("fieldset", h("legend", t("flow.field_perms")),
        h("table.grid.perm-grid", { "data-testid": "perm-grid" },
          h("thead", h("tr", h("th", t("flow.field")), PERMS.map((p) => h("th", t(`flow.perm.${p}`))))),
          h("tbody", form.fields.map((f) => h("tr", { "data-field": f.key }, h("td", f.label), PERMS.map((p) => h("td",
            h("input", {
              type: "radio", name: `perm-${f.key}`, value: p, "aria-label": `${f.label}: ${t(`flow.perm.${p}`)}`,
              checked: (perms[f.key] ?? (node.kind === "start" ? "edit" : "read")) === p,
              on: {
                change: () => {
                  const next = { ...(node.fields ?? {}), [f.key]: p };
                  set("fields", next);
                },
              },
            }))))))),
        h("p.muted.small", t("flow.perm_hint"))));
    }
    if (HAS_ASSIGNEES.has(node.kind) && node.kind !== "cc") {
      const to = node.timeout ?? {};
      const setT = (k, v) => {
        const next = { ...(node.timeout ?? {}) };
        if (v === "" || v === undefined || Number.isNaN(v)) delete next[k]; else next[k] = v;
        set("timeout", next.hours ? next : undefined);
      };
      rows.push(h("fieldset", h("legend", t("flow.timeout")),
        h("div.row",
          h("label.field", h("span.label", t("flow.hours")), h("input", { type: "number", min: 0, step: "any", name: "timeout-hours", value: to.hours ?? "", "data-testid": "timeout-hours", on: { input: (e) => setT("hours", e.target.value === "" ? "" : Number(e.target.value)) } })),
          h("label.field", h("span.label", t("flow.remind_hours")), h("input", { type: "number", min: 0, step: "any", name: "remind-hours", value: to.remind_hours ?? "", on: { input: (e) => setT("remind_hours", e.target.value === "" ? "" : Number(e.target.value)) } }))),
        h("label.field", h("span.label", t("flow.then")), h("select", { name: "timeout-then", on: { change: (e) => setT("then", e.target.value) } },
          THEN.map((x) => h("option", { value: x, selected: (to.then ?? "remind") === x }, t(`flow.then.${x}`))))),
        memberList.length ? h("label.field", h("span.label", t("flow.escalate_to")), h("select", { name: "timeout-to", on: { change: (e) => setT("to", e.target.value) } },
          h("option", { value: "" }, "—"), memberList.map((m) => h("option", { value: m.user_id, selected: to.to === m.user_id }, m.display_name || m.email)))) : null));
    }
    const out = def.edges.filter((e) => e.from === node.id);
    if (node.kind === "condition" || node.kind === "parallel" || out.length > 1) {
      rows.push(h("fieldset", { "data-testid": "branches" }, h("legend", t("flow.branches")),
        out.map((e) => h("div.branch", { "data-to": e.to },
          h("p", "→ ", h("strong", def.nodes.find((n) => n.id === e.to)?.name || e.to)),
          node.kind === "condition" ? [
            h("label.field", h("span.label", t("flow.when")), h("input.code", {
              name: "when", value: e.when ?? "", placeholder: "record.amount > 50000", disabled: !!e.default, "data-testid": "branch-when",
              on: { input: (ev) => { if (ev.target.value) e.when = ev.target.value; else delete e.when; drawChart(); } },
            })),
            h("label.check", h("input", {
              type: "checkbox", name: "default", checked: !!e.default, "data-testid": "branch-default",
              on: { change: (ev) => { if (ev.target.checked) { e.default = true; delete e.when; } else delete e.default; redraw(); } },
            }), " ", t("flow.default_branch")),
          ] : null)),
        h("button", { type: "button", "data-testid": "add-branch", on: { click: () => { selected = addBranch(def, node.id); redraw(); } } }, "+ ", t("flow.add_branch"))));
    }
    if (node.kind !== "start" && node.kind !== "end") {
      rows.push(h("button.danger", { type: "button", "data-testid": "remove-node", on: { click: () => { removeNode(def, node.id); selected = "start"; nodeErrors.delete(node.id); redraw(); } } }, t("flow.remove_step")));
    }
    mount(panel, rows);
  };

  /** Which node an error's field names: `nodes/<id>…`, `/nodes/<index>…` or `edges/<i>…` (its source). */
  const nodeOf = (field) => {
    const f = String(field).replace(/^\//, "");
    let m = /^nodes\/([^/]+)/.exec(f);
    if (m) return /^\d+$/.test(m[1]) ? def.nodes[Number(m[1])]?.id : m[1];
    m = /^edges\/(\d+)/.exec(f);
    if (m) return def.edges[Number(m[1])]?.from;
    return null;
  };

  const save = async () => {
    banner.hidden = true;
    nodeErrors = new Map();
    const body = { name: name.value.trim(), active: active.checked, nodes: def.nodes, edges: def.edges };
    if (def.description) body.description = def.description;
    try {
      const saved = flowId ? await api.put(`/workflows/${flowId}`, body) : await api.post(`/forms/${formId}/workflows`, body);
      toast(t("flow.saved", { version: saved.version }));
      if (!flowId) navigate(`/apps/${appId}/forms/${formId}/flows/${saved.id}`, { replace: true });
      else ctx.rerender();
    } catch (e) {
      const loose = [];
      for (const d of e.details) {
        const id = nodeOf(d.field);
        const msg = `${detailMessage(d.message)}${d.line ? ` (${t("rules.at_line", { line: d.line, col: d.column ?? 1 })})` : ""}`;
        if (id && def.nodes.some((n) => n.id === id)) nodeErrors.set(id, [...(nodeErrors.get(id) ?? []), msg]);
        else loose.push(`${d.field}: ${msg}`);
      }
      banner.textContent = loose.length ? `${e.display()} — ${loose.join("; ")}` : e.display();
      banner.hidden = false;
      const first = [...nodeErrors.keys()][0];
      if (first) selected = first;
      redraw();
    }
  };

  redraw();
  const page = h("section.page.flow-editor",
    h("p.crumbs", h("a", { href: `/apps/${appId}/forms/${formId}/flows` }, t("flow.back"))),
    h("div.page-head", h("h1", flow ? flow.name : t("flow.new")),
      h("div.actions",
        flow ? h("span.muted", t("flow.version", { version: flow.version })) : null,
        h("button.primary", { type: "button", "data-testid": "flow-save", on: { click: save } }, t("common.save")))),
    banner,
    h("div.row", h("label.field", h("span.label", t("flow.name")), name), h("label.check", active, " ", t("flow.active"))),
    h("div.flow-grid", chart, panel));
  page.dataset.title = flow ? flow.name : t("flow.new");
  return page;
}
