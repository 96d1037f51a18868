// The form designer: a palette of the registry's field kinds, a canvas
// that takes drops (from the palette, or to reorder) with move up/down
// buttons as the keyboard path, and a property panel for the selected
// field. Saving creates the form, or a new version of it.
import { api, call, serverKinds, inOrder } from "../api.js";
import { h, dialog, toast } from "../dom.js";
import { t, tOr, detailMessage } from "../i18n.js";
import { FIELD_KINDS } from "../fields.js";
import { formsOf, navigate } from "../app.js";

const WITH_OPTIONS = new Set(["select", "multiselect"]);
const WITH_MIN_MAX = new Set(["number", "money"]);
const WITH_LENGTH = new Set(["text", "textarea"]);

export async function designerView(ctx) {
  const { app: appId, form: formId } = ctx.params;
  // The palette is the server's field type registry.
  const paletteKinds = inOrder(FIELD_KINDS, (await serverKinds()).field_types);
  let form = null;
  let versions = [];
  if (formId) {
    [form, versions] = await Promise.all([api.get(`/forms/${formId}`), api.get(`/forms/${formId}/versions`)]);
  }
  // A key is fixed once any version saved it: records may hold data under it.
  const savedKeys = new Set(form ? form.fields.map((f) => f.key) : []);
  for (const v of versions) for (const f of v.definition?.fields ?? []) savedKeys.add(f.key);
  const model = {
    name: form?.name ?? "",
    fields: form ? structuredClone(form.fields) : [],
    selected: 0,
  };
  let keySeq = model.fields.length;

  const errorBox = h("div.error-banner", { role: "alert", hidden: true, "data-testid": "designer-error" });
  const canvas = h("ol.canvas", { "aria-label": t("designer.canvas"), "data-testid": "canvas" });
  const panel = h("aside.props", { "aria-label": t("designer.properties") });
  let fieldErrors = new Map();

  const newField = (type) => {
    keySeq += 1;
    let key = `${type}_${keySeq}`;
    while (model.fields.some((f) => f.key === key)) { keySeq += 1; key = `${type}_${keySeq}`; }
    const f = { key, label: t(`kind.${type}`), type };
    if (WITH_OPTIONS.has(type)) f.options = [{ value: t("designer.option_n", { n: 1 }) }, { value: t("designer.option_n", { n: 2 }) }];
    if (type === "subform") f.fields = [{ key: "item", label: t("designer.sub_item"), type: "text" }];
    if (type === "formula") f.expr = "1 + 1";
    return f;
  };
  const insert = (type, at) => {
    model.fields.splice(at, 0, newField(type));
    model.selected = at;
    redraw();
  };
  const move = (from, to) => {
    if (to < 0 || to >= model.fields.length || from === to) return;
    const [f] = model.fields.splice(from, 1);
    model.fields.splice(to, 0, f);
    model.selected = to;
    redraw();
    canvas.querySelector(`[data-index="${to}"] .handle`)?.focus();
  };

  const dropIndex = (e) => {
    const items = [...canvas.querySelectorAll("li.field-card")];
    for (const [i, li] of items.entries()) {
      const r = li.getBoundingClientRect();
      if (e.clientY < r.top + r.height / 2) return i;
    }
    return items.length;
  };
  canvas.addEventListener("dragover", (e) => { e.preventDefault(); canvas.classList.add("drop"); });
  canvas.addEventListener("dragleave", () => canvas.classList.remove("drop"));
  canvas.addEventListener("drop", (e) => {
    e.preventDefault();
    canvas.classList.remove("drop");
    const kind = e.dataTransfer.getData("application/x-formwork-kind");
    const from = e.dataTransfer.getData("application/x-formwork-index");
    const at = dropIndex(e);
    if (kind) insert(kind, at);
    else if (from !== "") move(Number(from), at > Number(from) ? at - 1 : at);
  });

  function redraw() {
    canvas.replaceChildren(...(model.fields.length ? model.fields.map(card) : [h("li.canvas-empty", t("designer.drop_here"))]));
    drawPanel();
  }

  function card(f, i) {
    const err = fieldErrors.get(f.key);
    return h(`li.field-card${i === model.selected ? ".selected" : ""}${err ? ".invalid" : ""}`, {
      draggable: "true", "data-index": i, "data-key": f.key,
      on: {
        dragstart: (e) => { e.dataTransfer.setData("application/x-formwork-index", String(i)); e.dataTransfer.effectAllowed = "move"; },
        click: () => { model.selected = i; redraw(); },
      },
    },
    h("button.handle", { type: "button", "aria-label": t("designer.select", { label: f.label }), on: { click: () => { model.selected = i; redraw(); } } }, "⠿"),
    h("span.card-label", f.label, f.required ? " *" : ""),
    h("span.muted", ` ${t(`kind.${f.type}`)} · ${f.key}`),
    err ? h("span.field-error", ` ${err}`) : null,
    h("span.card-tools",
      h("button.icon", { type: "button", "aria-label": t("designer.move_up"), disabled: i === 0, on: { click: (e) => { e.stopPropagation(); move(i, i - 1); } } }, "↑"),
      h("button.icon", { type: "button", "aria-label": t("designer.move_down"), disabled: i === model.fields.length - 1, on: { click: (e) => { e.stopPropagation(); move(i, i + 1); } } }, "↓"),
      h("button.icon", {
        type: "button", "aria-label": t("designer.remove"),
        on: {
          click: async (e) => {
            e.stopPropagation();
            if (form && savedKeys.has(f.key) && !(await confirmRemove(f))) return;
            const at = model.fields.indexOf(f);
            if (at < 0) return;
            model.fields.splice(at, 1);
            model.selected = Math.min(model.selected, model.fields.length - 1);
            redraw();
          },
        },
      }, "×")));
  }

  /** Asks before removing a saved field, saying how many records hold data in it. */
  async function confirmRemove(f) {
    let held = null;
    try {
      const r = await api.post(`/forms/${form.id}/records/query`, { filter: { field: f.key, op: "not_empty" }, limit: 1, total: true });
      held = r.total;
    } catch { held = null; }
    return dialog(t("designer.remove_title", { label: f.label }),
      h("p", { "data-testid": "remove-warning" }, held === null ? t("designer.remove_kept") : t("designer.remove_count", { n: held })),
      (close) => [
        h("button", { type: "button", on: { click: () => close(false) } }, t("common.cancel")),
        h("button.danger", { type: "button", "data-testid": "confirm-remove", on: { click: () => close(true) } }, t("designer.remove")),
      ]);
  }

  function versionList() {
    if (!versions.length) return null;
    return h("details.versions", { "data-testid": "versions" },
      h("summary", t("designer.versions", { n: versions.length })),
      h("ol", versions.map((v) => h("li",
        h("span", t("designer.version", { n: v.version }), " · ", new Date(v.created_at).toLocaleString(), " "),
        v.version === form.version
          ? h("span.muted", t("designer.current"))
          : h("button.link", {
            type: "button", "data-version": v.version,
            on: {
              click: () => {
                const def = v.definition || {};
                model.name = def.name ?? model.name;
                nameInput.value = model.name;
                model.fields = structuredClone(def.fields || []);
                model.selected = 0;
                fieldErrors = new Map();
                redraw();
                toast(t("designer.version_loaded", { n: v.version }));
              },
            },
          }, t("designer.load_version"))))));
  }

  function prop(label, input) {
    return h("label.field", h("span.label", label), input);
  }

  function drawPanel() {
    const f = model.fields[model.selected];
    if (!f) { panel.replaceChildren(h("p.muted", t("designer.none_selected"))); return; }
    const text = (k, attrs = {}) => h("input", {
      type: "text", value: f[k] ?? "", "data-prop": k, ...attrs,
      on: { input: (e) => { if (e.target.value === "") delete f[k]; else f[k] = e.target.value; canvasOnly(); } },
    });
    const num = (k) => h("input", {
      type: "number", value: f[k] ?? "", "data-prop": k,
      on: { input: (e) => { if (e.target.value === "") delete f[k]; else f[k] = Number(e.target.value); } },
    });
    const bool = (k) => h("input", { type: "checkbox", checked: !!f[k], "data-prop": k, on: { change: (e) => { if (e.target.checked) f[k] = true; else delete f[k]; canvasOnly(); } } });
    const parts = [
      h("h2", t("designer.properties")),
      prop(t("designer.label"), text("label")),
      prop(t("designer.key"), savedKeys.has(f.key) ? h("code", { "data-prop": "key" }, f.key) : text("key", { pattern: "[a-z][a-z0-9_]*" })),
      h("p.muted", t(`kind.${f.type}`)),
      h("label.check", bool("required"), " ", t("designer.required")),
      h("label.check", bool("unique"), " ", t("designer.unique")),
      prop(t("designer.help"), text("help")),
    ];
    if (WITH_MIN_MAX.has(f.type)) parts.push(prop(t("designer.min"), num("min")), prop(t("designer.max"), num("max")));
    if (WITH_LENGTH.has(f.type)) parts.push(prop(t("designer.max_length"), num("max_length")), prop(t("designer.pattern"), text("pattern")));
    if (f.type === "formula") parts.push(prop(t("designer.expr"), text("expr")));
    if (WITH_OPTIONS.has(f.type)) parts.push(optionsEditor(f));
    if (f.type === "subform") parts.push(subEditor(f));
    panel.replaceChildren(...parts);
  }

  function canvasOnly() {
    const el = canvas.querySelector(`[data-index="${model.selected}"]`);
    const f = model.fields[model.selected];
    if (el && f) el.replaceWith(card(f, model.selected));
  }

  function optionsEditor(f) {
    const list = h("ol.options");
    const draw = () => list.replaceChildren(...f.options.map((o, i) => h("li",
      h("input", { type: "text", value: o.value, "aria-label": t("designer.option_value"), "data-option": i, on: { input: (e) => { o.value = e.target.value; } } }),
      h("input", { type: "color", value: o.color || "#8c8c8c", "aria-label": t("designer.option_color"), on: { input: (e) => { o.color = e.target.value; } } }),
      h("button.icon", { type: "button", "aria-label": t("designer.move_up"), disabled: i === 0, on: { click: () => { f.options.splice(i - 1, 0, ...f.options.splice(i, 1)); draw(); } } }, "↑"),
      h("button.icon", { type: "button", "aria-label": t("designer.remove"), on: { click: () => { f.options.splice(i, 1); draw(); } } }, "×"))));
    draw();
    return h("fieldset", h("legend", t("designer.options")), list,
      h("button", { type: "button", "data-testid": "add-option", on: { click: () => { f.options.push({ value: t("designer.option_n", { n: f.options.length + 1 }) }); draw(); } } }, "+ ", t("designer.add_option")));
  }

  function subEditor(f) {
    const list = h("ol.options");
    const kinds = paletteKinds.filter((k) => !["subform", "relation", "serial", "formula"].includes(k));
    const draw = () => list.replaceChildren(...f.fields.map((s, i) => h("li",
      h("input", { type: "text", value: s.label, "aria-label": t("designer.label"), on: { input: (e) => { s.label = e.target.value; } } }),
      h("input", { type: "text", value: s.key, "aria-label": t("designer.key"), size: 8, on: { input: (e) => { s.key = e.target.value; } } }),
      h("select", { "aria-label": t("designer.kind"), on: { change: (e) => { s.type = e.target.value; } } },
        kinds.map((k) => h("option", { value: k, selected: k === s.type }, tOr(`kind.${k}`, k)))),
      h("button.icon", { type: "button", "aria-label": t("designer.remove"), on: { click: () => { f.fields.splice(i, 1); draw(); } } }, "×"))));
    draw();
    return h("fieldset", h("legend", t("designer.sub_fields")), list,
      h("button", { type: "button", on: { click: () => { f.fields.push({ key: `col_${f.fields.length + 1}`, label: t("designer.sub_item"), type: "text" }); draw(); } } }, "+ ", t("designer.add_sub")));
  }

  const palette = h("ul.palette", { "aria-label": t("designer.palette") }, paletteKinds.map((kind) => h("li",
    h("button.palette-item", {
      type: "button", draggable: "true", "data-kind": kind, title: t("designer.palette_hint"),
      on: {
        dragstart: (e) => { e.dataTransfer.setData("application/x-formwork-kind", kind); e.dataTransfer.effectAllowed = "copy"; },
        click: () => insert(kind, model.fields.length),
      },
    }, tOr(`kind.${kind}`, kind)))));

  const nameInput = h("input", { type: "text", value: model.name, required: true, "data-testid": "form-name", "aria-label": t("designer.form_name"), placeholder: t("designer.form_name"), on: { input: (e) => { model.name = e.target.value; } } });
  const save = h("button.primary", {
    type: "button", "data-testid": "save-form",
    on: {
      click: async () => {
        errorBox.hidden = true;
        fieldErrors = new Map();
        save.disabled = true;
        const body = { name: model.name.trim(), fields: model.fields };
        try {
          const saved = form
            ? (await call("PUT", `/forms/${form.id}`, body)).body
            : await api.post(`/apps/${appId}/forms`, body);
          await formsOf(appId, true);
          toast(t("designer.saved", { version: saved.version }));
          navigate(`/apps/${appId}/forms/${saved.id}`);
        } catch (e) {
          save.disabled = false;
          const loose = [];
          for (const d of e.details) {
            const m = /^(?:\/?fields\/)?(\d+)/.exec(d.field);
            const f = m ? model.fields[Number(m[1])] : model.fields.find((x) => x.key === d.field);
            if (f) fieldErrors.set(f.key, detailMessage(d.message)); else loose.push(`${d.field}: ${detailMessage(d.message)}`);
          }
          errorBox.replaceChildren(h("strong", e.display()), loose.length ? h("ul", loose.map((l) => h("li", l))) : "");
          errorBox.hidden = false;
          redraw();
        }
      },
    },
  }, form ? t("designer.save_version") : t("designer.create"));

  redraw();
  const page = h("section.page.designer-page",
    h("div.page-head", h("h1", form ? t("designer.edit_title", { name: form.name }) : t("designer.new_title")),
      h("div.head-actions", form ? h("span.muted", t("designer.version", { n: form.version })) : null, save)),
    errorBox,
    h("div.designer-name", nameInput),
    versionList(),
    h("div.designer",
      h("div.palette-box", h("h2", t("designer.palette")), palette),
      h("div.canvas-box", canvas),
      panel));
  page.dataset.title = t("designer.new_title");
  return page;
}
