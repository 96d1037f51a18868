// Login: tenant, e-mail, password → POST /auth/login (sets the session cookie).
import { call } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { navigate, session, recentTenants, rememberTenant, SIGNED_IN_KEY } from "../app.js";

export async function loginView(ctx) {
  const tenant = ctx.query.get("tenant") ?? recentTenants()[0] ?? "";
  const error = h("p.error-banner", { role: "alert", hidden: true, "data-testid": "login-error" });
  const input = (name, type, value, autocomplete) => h("label.field",
    h("span.label", t(`login.${name}`)),
    h("input", { name, type, value, required: true, autocomplete, autofocus: name === "tenant" ? !tenant : name === "email" && !!tenant }));
  const submit = h("button.primary", { type: "submit" }, t("login.submit"));
  const form = h("form.card.login", {
    "data-testid": "login-form",
    on: {
      submit: async (e) => {
        e.preventDefault();
        const body = Object.fromEntries(new FormData(form));
        submit.disabled = true;
        error.hidden = true;
        try {
          await call("POST", "/auth/login", body);
          session.me = null;
          session.apps = null;
          session.forms.clear();
          rememberTenant(body.tenant);
          localStorage.setItem(SIGNED_IN_KEY, "1");
          const next = ctx.query.get("next");
          navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
        } catch (err) {
          error.textContent = err.code === "unauthorized" ? t("login.failed") : err.display();
          error.hidden = false;
          submit.disabled = false;
        }
      },
    },
  },
  h("h1", "Formwork"),
  h("p.muted", t("login.subtitle")),
  error,
  input("tenant", "text", tenant, "organization"),
  input("email", "email", "", "username"),
  input("password", "password", "", "current-password"),
  submit);
  form.dataset.title = t("login.title");
  return form;
}
