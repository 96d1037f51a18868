// A form's records as a table: column chooser, click-to-sort headers, the
// filter builder, text search, tag chips and cursor pagination, all through
// POST /forms/{id}/records/query. Exact totals only on request.
import { api, ensureTag } from "../api.js";
import { h, debounce, dialog, toast } from "../dom.js";
import { t } from "../i18n.js";
import { display, sortable } from "../fields.js";
import { filterBuilder, buildFilter, filterFields } from "../filter.js";
import { loadForm } from "./record.js";
import { session } from "../app.js";
import { exportView, importDialog } from "./exchange.js";

/** Table state by form id, kept while the page is open. */
const states = new Map();
const PAGE_SIZES = [20, 50, 100, 200];

function colsKey(formId) {
  return `fw.cols.${formId}`;
}

function stateOf(form) {
  let s = states.get(form.id);
  if (!s) {
    let cols = null;
    try { cols = JSON.parse(localStorage.getItem(colsKey(form.id)) || "null"); } catch { cols = null; }
    const keys = [...form.fields.map((f) => f.key), "_tags", "_updated_at"];
    s = {
      columns: Array.isArray(cols) ? cols.filter((k) => keys.includes(k)) : keys.filter((k) => k !== "_updated_at"),
      sort: null, // { field, dir }
      rows: [],
      match: "and",
      tags: [],
      q: "",
      limit: 50,
      cursors: [null], // cursor of each page seen; the last is the current page
      showFilter: false,
      bin: false, // showing the recycle bin
    };
    states.set(form.id, s);
  }
  return s;
}

export async function tableView(ctx) {
  const { app: appId, form: formId } = ctx.params;
  const form = await loadForm(appId, formId);
  const st = stateOf(form);
  const fields = filterFields(form);
  let allTags = [];
  try { allTags = await api.get("/tags"); } catch { allTags = []; }

  const status = h("div.table-status", { "aria-live": "polite", "data-testid": "table-status" });
  const errorBox = h("div.error-banner", { role: "alert", hidden: true, "data-testid": "table-error" });
  const tableWrap = h("div.table-scroll");
  const pager = h("div.pager");
  const filterSlot = h("div");

  const columnDefs = () => {
    const defs = form.fields.filter((f) => !f.hidden).map((f) => ({ key: f.key, label: f.label, field: f }));
    defs.push({ key: "_tags", label: t("table.tags") });
    defs.push({ key: "_updated_at", label: t("table.updated_at"), field: { key: "_updated_at", type: "_updated_at" } });
    return defs;
  };

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const filter = buildFilter(st, fields);
    const body = {
      limit: st.limit,
      filter,
      sort: st.sort ? [st.sort] : undefined,
      q: st.q || undefined,
      cursor: st.cursors[st.cursors.length - 1] ?? undefined,
    };
    status.textContent = t("common.loading");
    tableWrap.setAttribute("aria-busy", "true");
    try {
      let page;
      if (st.bin) {
        const qs = new URLSearchParams({ deleted: "true", limit: String(st.limit) });
        if (st.q) qs.set("q", st.q);
        if (body.cursor) qs.set("cursor", body.cursor);
        page = await api.get(`/forms/${formId}/records?${qs}`);
      } else {
        page = await api.post(`/forms/${formId}/records/query`, body);
      }
      if (mine !== seq) return;
      errorBox.hidden = true;
      drawTable(page.records);
      drawPager(page);
      status.textContent = t("table.showing", { n: page.records.length, page: st.cursors.length });
    } catch (e) {
      if (mine !== seq) return;
      errorBox.textContent = e.display();
      errorBox.hidden = false;
      status.textContent = "";
    } finally {
      tableWrap.removeAttribute("aria-busy");
    }
  }

  function restart() {
    st.cursors = [null];
    load();
  }

  const selected = new Set();
  function drawTable(records) {
    // The selection keeps the records still on the page (a reload of the same page keeps it).
    const present = new Set(records.map((r) => r.id));
    for (const id of [...selected]) if (!present.has(id)) selected.delete(id);
    drawBatch();
    const cols = columnDefs().filter((c) => st.columns.includes(c.key));
    const boxes = [];
    const selectAll = h("input", {
      type: "checkbox", "aria-label": t("table.select_page"), "data-testid": "select-page",
      on: { change: (e) => { for (const b of boxes) { b.checked = e.target.checked; toggle(b.value, b.checked); } } },
    });
    const head = h("tr", st.bin ? null : h("th.sel", selectAll), cols.map((c) => {
      const canSort = c.key !== "_tags" && sortable(c.field?.type);
      const dir = st.sort && st.sort.field === c.key ? st.sort.dir : null;
      return h("th", { scope: "col", "aria-sort": dir ? (dir === "asc" ? "ascending" : "descending") : undefined, "data-col": c.key },
        canSort && !st.bin
          ? h("button.sort", {
            type: "button",
            title: t("table.sort_hint"),
            on: {
              click: () => {
                if (!dir) st.sort = { field: c.key, dir: "asc" };
                else if (dir === "asc") st.sort = { field: c.key, dir: "desc" };
                else st.sort = null;
                restart();
              },
            },
          }, c.label, h("span.sort-mark", { "aria-hidden": "true" }, dir === "asc" ? " ▲" : dir === "desc" ? " ▼" : ""))
          : c.label);
    }), st.bin ? h("th") : null);
    const body = records.map((r) => h("tr", { "data-id": r.id, on: { click: (e) => { if (!st.bin && !e.target.closest("a,button,input,.sel")) e.currentTarget.querySelector("a")?.click(); } } },
      st.bin ? null : h("td.sel", (() => {
        const b = h("input", { type: "checkbox", value: r.id, checked: selected.has(r.id), "aria-label": t("table.select_row"), on: { change: (e) => toggle(r.id, e.target.checked) } });
        boxes.push(b);
        return b;
      })()),
      cols.map((c, i) => {
        let content;
        if (c.key === "_tags") content = h("span.chips", (r.tags || []).map((tag) => h("span.chip.tag", tag)));
        else if (c.key === "_updated_at") content = new Date(r.updated_at).toLocaleString();
        else content = display(c.field, r.data[c.key], r.expanded);
        const num = ["number", "money"].includes(c.field?.type);
        return h("td", { "data-col": c.key, class: num ? "num" : undefined }, i === 0 && !st.bin
          ? h("a", { href: `/apps/${appId}/forms/${formId}/records/${r.id}` }, content === "" ? t("table.open") : content)
          : content);
      }),
      st.bin ? h("td", h("button", { type: "button", "data-testid": "restore", on: { click: () => restore(r.id) } }, t("table.restore"))) : null));
    tableWrap.replaceChildren(
      records.length === 0 && st.cursors.length === 1
        ? h("p.empty", { "data-testid": "table-empty" }, t("table.empty"))
        : h("table.grid", { "data-testid": "records" }, h("thead", head), h("tbody", body)));
  }

  function toggle(id, on) {
    if (on) selected.add(id); else selected.delete(id);
    drawBatch();
  }

  const batchBar = h("div.batch-bar", { hidden: true, "data-testid": "batch-bar" });
  function drawBatch() {
    batchBar.hidden = selected.size === 0;
    if (!selected.size) return;
    const tagInput = h("input", { type: "text", maxlength: 50, placeholder: t("table.tag_name"), "aria-label": t("table.tag_name"), "data-testid": "batch-tag-name" });
    batchBar.replaceChildren(
      h("strong", t("table.selected", { n: selected.size })),
      h("form.inline", { on: { submit: (e) => { e.preventDefault(); batchTag(tagInput.value.trim()); } } },
        tagInput, h("button", { type: "submit", "data-testid": "batch-tag" }, t("table.tag_selected"))),
      h("button.danger", { type: "button", "data-testid": "batch-delete", on: { click: batchDelete } }, t("table.delete_selected")));
  }

  /** Runs `fn` over the selection, a few at a time; reports failures. */
  async function eachSelected(fn) {
    const ids = [...selected];
    let failed = 0;
    for (let i = 0; i < ids.length; i += 4) {
      const results = await Promise.allSettled(ids.slice(i, i + 4).map(fn));
      failed += results.filter((r) => r.status === "rejected").length;
    }
    if (failed) toast(t("table.batch_failed", { n: failed }), "error");
    return ids.length - failed;
  }

  async function batchTag(name) {
    if (!name) return;
    try { await ensureTag(name); } catch (e) { toast(e.display(), "error"); return; }
    const n = await eachSelected((id) => api.post(`/forms/${formId}/records/${id}/tags/${encodeURIComponent(name)}`));
    toast(t("table.tagged", { n, name }));
    try { allTags = await api.get("/tags"); } catch { /* keep the old list */ }
    drawTagBar();
    load();
  }

  async function batchDelete() {
    const ok = await dialog(t("table.delete_selected"), h("p", t("table.delete_confirm", { n: selected.size })), (close) => [
      h("button", { type: "button", on: { click: () => close(false) } }, t("common.cancel")),
      h("button.danger", { type: "button", "data-testid": "confirm-delete", on: { click: () => close(true) } }, t("common.delete")),
    ]);
    if (!ok) return;
    const n = await eachSelected((id) => api.del(`/forms/${formId}/records/${id}`));
    toast(t("table.deleted", { n }));
    load();
  }

  async function restore(id) {
    try {
      await api.post(`/forms/${formId}/records/${id}/restore`);
      toast(t("table.restored"));
      load();
    } catch (e) { toast(e.display(), "error"); }
  }

  function drawPager(page) {
    pager.replaceChildren(
      h("button", {
        type: "button", disabled: st.cursors.length <= 1, "data-testid": "prev",
        on: { click: () => { st.cursors.pop(); load(); } },
      }, "‹ ", t("table.prev")),
      h("span.page-no", t("table.page", { n: st.cursors.length })),
      h("button", {
        type: "button", disabled: !page.next_cursor, "data-testid": "next",
        on: { click: () => { st.cursors.push(page.next_cursor); load(); } },
      }, t("table.next"), " ›"),
      h("label.page-size", t("table.page_size"), " ",
        h("select", { on: { change: (e) => { st.limit = Number(e.target.value); restart(); } } },
          PAGE_SIZES.map((n) => h("option", { value: n, selected: n === st.limit }, String(n))))),
      h("button.link", { type: "button", "data-testid": "count", on: { click: count } }, t("table.count")));
  }

  async function count() {
    try {
      const r = await api.post(`/forms/${formId}/records/query`, {
        filter: buildFilter(st, fields), q: st.q || undefined, limit: 1, total: true,
      });
      status.textContent = t("table.total", { n: r.total });
    } catch (e) { toast(e.display(), "error"); }
  }

  const search = h("input.search", {
    type: "search", value: st.q, placeholder: t("table.search"), "aria-label": t("table.search"), "data-testid": "search",
    on: { input: debounce((e) => { st.q = e.target.value.trim(); restart(); }, 300) },
  });

  const filterCount = () => st.rows.length + st.tags.length;
  const filterBtn = h("button", {
    type: "button", "aria-expanded": String(st.showFilter), "data-testid": "filter-toggle",
    on: { click: () => { st.showFilter = !st.showFilter; drawFilter(); } },
  });
  function drawFilter() {
    filterBtn.textContent = filterCount() ? t("table.filter_n", { n: filterCount() }) : t("table.filter");
    filterBtn.setAttribute("aria-expanded", String(st.showFilter));
    filterSlot.replaceChildren(st.showFilter
      ? filterBuilder(form, st, (rows, match) => { st.rows = rows.map((r) => ({ ...r })); st.match = match; drawFilter(); restart(); })
      : "");
  }

  const colMenu = h("div.menu.col-menu", { hidden: true, "data-testid": "columns-menu" },
    columnDefs().map((c) => h("label.menu-item", h("input", {
      type: "checkbox", checked: st.columns.includes(c.key), "data-col": c.key,
      on: {
        change: (e) => {
          const order = columnDefs().map((d) => d.key);
          const set = new Set(st.columns);
          if (e.target.checked) set.add(c.key); else set.delete(c.key);
          st.columns = order.filter((k) => set.has(k));
          localStorage.setItem(colsKey(formId), JSON.stringify(st.columns));
          load();
        },
      },
    }), " ", c.label)));
  const colBtn = h("button", {
    type: "button", "aria-haspopup": "true", "data-testid": "columns",
    on: { click: (e) => { e.stopPropagation(); colMenu.hidden = !colMenu.hidden; } },
  }, t("table.columns"), " ▾");

  const tagSlot = h("div");
  function drawTagBar() {
    tagSlot.replaceChildren(st.bin ? "" : tagBar());
  }
  const tagBar = () => allTags.length
    ? h("div.tag-bar", { role: "group", "aria-label": t("table.tag_filter") },
      h("span.muted", t("table.tags"), ":"),
      allTags.map((tag) => h("button.chip.tag-toggle", {
        type: "button", "aria-pressed": String(st.tags.includes(tag.name)),
        style: tag.color ? { "--chip": tag.color } : undefined,
        on: {
          click: (e) => {
            st.tags = st.tags.includes(tag.name) ? st.tags.filter((x) => x !== tag.name) : [...st.tags, tag.name];
            e.currentTarget.setAttribute("aria-pressed", String(st.tags.includes(tag.name)));
            drawFilter();
            restart();
          },
        },
      }, tag.name)))
    : "";

  const binBtn = h("button", {
    type: "button", "aria-pressed": String(st.bin), "data-testid": "bin-toggle",
    on: {
      click: () => {
        st.bin = !st.bin;
        st.showFilter = false;
        binBtn.setAttribute("aria-pressed", String(st.bin));
        binBtn.textContent = st.bin ? t("table.leave_bin") : t("table.bin");
        filterBtn.hidden = st.bin;
        colBtn.parentElement.hidden = st.bin;
        exchangeBox.hidden = st.bin;
        drawFilter();
        drawTagBar();
        restart();
      },
    },
  }, st.bin ? t("table.leave_bin") : t("table.bin"));
  filterBtn.hidden = st.bin;

  // Export what the table shows: its filter, tags, search, sort and the
  // chosen field columns (subforms do not fit one cell).
  const viewQuery = () => {
    const keys = st.columns.filter((k) => form.fields.some((f) => f.key === k && !f.hidden && f.type !== "subform"));
    return { filter: buildFilter(st, fields), sort: st.sort ? [st.sort] : undefined, q: st.q || undefined, fields: keys.length ? keys : undefined };
  };
  const exportMenu = h("div.menu.right", { hidden: true, "data-testid": "export-menu" },
    ["csv", "xlsx"].map((format) => h("button.menu-item", {
      type: "button", "data-format": format,
      on: { click: () => { exportMenu.hidden = true; exportView(formId, viewQuery(), format); } },
    }, t(`exchange.export_${format}`))));
  const exportBtn = h("button", {
    type: "button", "aria-haspopup": "true", "data-testid": "export",
    on: { click: (e) => { e.stopPropagation(); exportMenu.hidden = !exportMenu.hidden; } },
  }, t("exchange.export"), " ▾");
  const importBtn = h("button", {
    type: "button", "data-testid": "import",
    on: { click: () => importDialog(form, () => restart()) },
  }, t("exchange.import"));
  const exchangeBox = h("div.dropdown", { hidden: st.bin }, importBtn, " ", exportBtn, exportMenu);

  drawFilter();
  drawTagBar();
  const page = h("section.page.table-page",
    h("div.page-head",
      h("h1", form.name),
      h("div.head-actions",
        h("a.button", { href: `/apps/${appId}/forms/${formId}/design` }, t("app.design")),
        ["owner", "admin"].includes(session.me?.role)
          ? h("button", { type: "button", "data-testid": "share", on: { click: async () => (await import("./share.js")).shareDialog(form) } }, t("share.button"))
          : null,
        h("a.button.primary", { href: `/apps/${appId}/forms/${formId}/new`, "data-testid": "new-record" }, "+ ", t("table.new_record")))),
    h("div.toolbar", search, filterBtn, h("div.dropdown", { hidden: st.bin }, colBtn, colMenu), h("span.spacer"), exchangeBox, binBtn),
    tagSlot,
    filterSlot,
    batchBar,
    errorBox,
    tableWrap,
    h("div.table-foot", status, pager));
  page.dataset.title = form.name;
  load();
  return page;
}
