// The approval inbox: my tasks by box (to do, done, initiated, cc), and one
// task: the record with the step's field permissions applied (hidden fields
// are not sent, read-only ones shown as text, editable ones as inputs), the
// actions the server offers, and the flow's history as a timeline.
import { api } from "../api.js";
import { h, mount, toast } from "../dom.js";
import { t, tOr, detailMessage, formatTime } from "../i18n.js";
import { fieldInput, formRow, display, loadMembers } from "../fields.js";
import { formsOf, navigate } from "../app.js";

const BOXES = ["todo", "done", "initiated", "cc"];
// Actions that need a target: `return` goes to the initiator or an earlier
// step, `transfer` and `add_approver` to a member.
const NEEDS_MEMBER = new Set(["transfer", "add_approver"]);

/** `/inbox?box=todo|done|initiated|cc` */
export async function inboxView(ctx) {
  const box = BOXES.includes(ctx.query.get("box")) ? ctx.query.get("box") : "todo";
  const list = await api.get(`/tasks?box=${box}`);
  // Each task says which form it is on (the forms of its apps, cached).
  const formName = new Map();
  for (const app of new Set(list.tasks.map((x) => x.app_id))) {
    try { for (const f of await formsOf(app)) formName.set(f.id, f.name); } catch { /* an app the caller cannot list */ }
  }
  const tabs = h("nav.tabs", { "aria-label": t("inbox.title") }, BOXES.map((b) => h("a", {
    href: `/inbox?box=${b}`, class: b === box ? "active" : "", "aria-current": b === box ? "page" : false, "data-box": b,
  }, t(`inbox.box.${b}`))));
  const page = h("section.page",
    h("div.page-head", h("h1", t("inbox.title"))),
    tabs,
    list.tasks.length === 0
      ? h("p.empty", t("inbox.empty"))
      : h("ul.task-list", { "data-testid": "tasks" }, list.tasks.map((task) => h("li.card.task", { "data-task": task.id },
        h("a.card-link", { href: `/inbox/${task.id}` }, h("strong", task.node_name || task.node)),
        formName.has(task.form_id) ? h("span.muted", { "data-testid": "task-form" }, ` · ${formName.get(task.form_id)}`) : null,
        h("p.muted.small", t(`inbox.status.${task.status}`), " · ", formatTime(task.acted_at ?? task.created_at),
          task.instance_status ? [" · ", t(`inbox.flow.${task.instance_status}`)] : null)))));
  page.dataset.title = t("inbox.title");
  return page;
}

/** `/inbox/{task}` */
export async function taskView(ctx) {
  const detail = await api.get(`/tasks/${ctx.params.task}`);
  const task = detail.task;
  const [form, flow, memberList] = await Promise.all([
    api.get(`/forms/${task.form_id}`),
    api.get(`/forms/${task.form_id}/records/${task.record_id}/workflow`),
    // Names for the timeline and member fields, where the caller may list members.
    loadMembers(),
  ]);
  const names = new Map(memberList.map((m) => [m.user_id, m.display_name || m.email]));
  const data = detail.record?.data ?? {};
  const perms = detail.fields ?? {};
  const inputs = new Map();
  const errors = new Map();
  const rows = [];
  for (const f of form.fields) {
    const perm = perms[f.key] ?? "read";
    if (perm === "hidden" || f.hidden || !(f.key in data || perm === "edit")) continue;
    if (perm === "edit" && detail.actions.some((a) => a === "approve" || a === "submit")) {
      const inp = fieldInput(f, data[f.key], () => {});
      inputs.set(f.key, inp);
      rows.push(formRow(f, inp, errors));
    } else {
      rows.push(h("div.form-row", { "data-row": f.key, "data-perm": "read" },
        h("span.label", f.label), h("div.read-value", display(f, data[f.key]) || "—")));
    }
  }

  const comment = h("textarea", { name: "comment", rows: 3, "data-testid": "task-comment", placeholder: t("inbox.comment_hint") });
  const banner = h("div.error-banner", { hidden: true, role: "alert", "data-testid": "task-error" });
  const earlier = [...new Set(flow.history.map((e) => e.node).filter((n) => n && n !== task.node))];
  const target = h("select", { name: "to", "data-testid": "task-to", hidden: true });
  let members = memberList.length ? memberList : null;

  const act = async (action) => {
    banner.hidden = true;
    for (const err of errors.values()) err.hidden = true;
    const body = {};
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (action === "approve" || action === "submit") {
      const edited = {};
      for (const [key, inp] of inputs) {
        const v = inp.get();
        if (v !== undefined) edited[key] = v;
      }
      if (Object.keys(edited).length) body.data = edited;
    }
    if (action === "return" || NEEDS_MEMBER.has(action)) {
      if (NEEDS_MEMBER.has(action)) {
        try {
          members = members ?? await api.get("/members");
        } catch (e) {
          banner.textContent = e.display();
          banner.hidden = false;
          return;
        }
        mount(target, members.map((m) => h("option", { value: m.user_id }, m.display_name || m.email)));
      } else {
        mount(target, h("option", { value: "initiator" }, t("inbox.to_initiator")),
          earlier.map((n) => h("option", { value: n }, n)));
      }
      if (target.hidden || target.dataset.for !== action) {
        target.hidden = false;
        target.dataset.for = action;
        banner.textContent = t("inbox.pick_target");
        banner.hidden = false;
        target.focus();
        return;
      }
      body.to = target.value;
    }
    try {
      await api.post(`/tasks/${task.id}/${action}`, body);
      toast(t(`inbox.done.${action}`));
      navigate("/inbox");
    } catch (e) {
      const loose = [];
      for (const d of e.details) {
        const err = errors.get(String(d.field).replace(/^\//, "").split("/")[0]);
        if (err) { err.textContent = detailMessage(d.message); err.hidden = false; } else loose.push(`${d.field}: ${detailMessage(d.message)}`);
      }
      banner.textContent = loose.length ? `${e.display()} — ${loose.join("; ")}` : e.display();
      banner.hidden = false;
    }
  };

  const buttons = detail.actions.map((a) => h(a === "approve" || a === "submit" ? "button.primary" : a === "reject" ? "button.danger" : "button",
    { type: "button", "data-action": a, on: { click: () => act(a) } }, t(`inbox.action.${a}`)));

  const timeline = h("ol.timeline", { "data-testid": "timeline" }, flow.history.map((e) => h("li", { "data-action": e.action },
    h("span.tl-dot", { "aria-hidden": "true" }),
    h("div",
      h("strong", tOr(`inbox.event.${e.action}`, e.action)),
      e.node ? h("span.muted", ` · ${e.node}`) : null,
      e.actor ? h("span.muted", { "data-testid": "tl-actor" }, ` · ${names.get(e.actor) ?? e.actor}`) : null,
      h("p.muted.small", formatTime(e.at)),
      e.comment ? h("blockquote", e.comment) : null))));

  const page = h("section.page.task-page",
    h("p.crumbs", h("a", { href: "/inbox" }, t("inbox.back"))),
    h("div.page-head", h("h1", task.node_name || task.node),
      h("span", { class: `badge flow-${flow.status}`, "data-testid": "flow-status" }, t(`inbox.flow.${flow.status}`))),
    banner,
    h("div.task-grid",
      h("div",
        h("div.record-form", { "data-testid": "task-record" }, rows),
        detail.actions.length
          ? h("div.task-actions",
            h("label.field", h("span.label", t("inbox.comment")), comment),
            target,
            h("div.actions", { "data-testid": "task-actions" }, buttons))
          : h("p.muted", t("inbox.no_actions"))),
      h("section.card", h("h3", t("inbox.history")), timeline)));
  page.dataset.title = task.node_name || task.node;
  return page;
}
