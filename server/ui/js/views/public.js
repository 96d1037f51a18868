// The page a public link (外链) opens at /f/<token>: the form's name, the
// fields the link shows, and a submit that creates one record without
// signing in. It calls only the two public endpoints of its token.
import { call } from "../api.js";
import { h } from "../dom.js";
import { t, detailMessage } from "../i18n.js";
import { fieldInput, formRow } from "../fields.js";

export async function publicView(ctx) {
  const token = ctx.params.token;
  let form;
  try {
    form = (await call("GET", `/public/${token}`)).body;
  } catch (e) {
    const text = e.code === "not_found" ? t("public.unknown") : e.display();
    return h("section.page.public-page", h("p.error-banner", { role: "alert", "data-testid": "public-error" }, text));
  }
  const inputs = new Map();
  const errors = new Map();
  const banner = h("div.error-banner", { role: "alert", hidden: true, "data-testid": "form-error" });
  const rows = form.fields.map((f) => {
    const inp = fieldInput(f, f.default?.value, () => {});
    inputs.set(f.key, inp);
    return formRow(f, inp, errors);
  });

  const clear = () => {
    banner.hidden = true;
    for (const [key, err] of errors) {
      err.hidden = true;
      err.textContent = "";
      inputs.get(key).el.removeAttribute("aria-invalid");
    }
  };
  const show = (e) => {
    const loose = [];
    let first = null;
    for (const d of e.details) {
      const key = String(d.field).replace(/^\//, "").split(/[/.]/)[0];
      const err = errors.get(key);
      if (!err) { loose.push(`${d.field}: ${detailMessage(d.message)}`); continue; }
      const msg = detailMessage(d.message);
      err.textContent = err.textContent ? `${err.textContent}; ${msg}` : msg;
      err.hidden = false;
      const el = inputs.get(key).el;
      el.setAttribute("aria-invalid", "true");
      el.setAttribute("aria-describedby", err.id);
      first = first ?? el;
    }
    banner.replaceChildren(h("strong", e.display()), ...(loose.length ? [h("ul", loose.map((l) => h("li", l)))] : []));
    banner.hidden = false;
    (first ?? banner).focus();
  };

  const submit = h("button.primary", { type: "submit", "data-testid": "public-submit" }, t("public.submit"));
  const body = h("div.public-body");
  const formEl = h("form.record-form", {
    novalidate: true,
    "data-testid": "public-form",
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        clear();
        const data = {};
        for (const [key, inp] of inputs) {
          const v = inp.get();
          if (v !== undefined) data[key] = v;
        }
        submit.disabled = true;
        try {
          await call("POST", `/public/${token}/records`, { data });
          body.replaceChildren(h("div.public-done", { "data-testid": "public-done" },
            h("p", t("public.thanks")),
            h("button", { type: "button", on: { click: () => ctx.rerender() } }, t("public.again"))));
        } catch (e) {
          submit.disabled = false;
          if (e.details && e.details.length) show(e);
          else { banner.textContent = e.display(); banner.hidden = false; }
        }
      },
    },
  }, banner, h("div.form-grid", rows), h("div.form-actions", submit));
  body.append(formEl);
  const page = h("section.page.public-page",
    h("h1", form.name),
    form.description ? h("p.muted", form.description) : null,
    body,
    h("p.muted.public-footer", t("public.footer")));
  page.dataset.title = form.name;
  return page;
}
