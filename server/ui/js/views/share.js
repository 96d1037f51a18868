// The form's public links (外链), for owners and admins: each link's page
// address to copy, its submission count, switch off or on, delete, and a
// new link over every field a visitor can fill.
import { api } from "../api.js";
import { h, dialog, toast } from "../dom.js";
import { t } from "../i18n.js";

export async function shareDialog(form) {
  const list = h("ul.share-list", { "data-testid": "share-list" });
  const base = `/forms/${form.id}/public-links`;
  const redraw = async () => {
    let links;
    try { links = await api.get(base); } catch (e) { list.replaceChildren(h("li.field-error", e.display())); return; }
    if (!links.length) { list.replaceChildren(h("li.muted", t("share.none"))); return; }
    list.replaceChildren(...links.map((l) => {
      const url = `${location.origin}${l.path}`;
      const settings = { name: l.name, fields: l.fields, rate_per_minute: l.rate_per_minute, expires_at: l.expires_at };
      const toggle = async () => {
        try { await api.put(`/public-links/${l.id}`, { ...settings, enabled: !l.enabled }); } catch (e) { toast(e.display(), "error"); }
        redraw();
      };
      const remove = async () => {
        try { await api.del(`/public-links/${l.id}`); } catch (e) { toast(e.display(), "error"); }
        redraw();
      };
      return h("li.share-item", { "data-link": l.id },
        h("div", h("strong", l.name), " · ", t(l.enabled ? "share.on" : "share.off"), " · ",
          t("share.count", { n: l.submissions })),
        h("input.share-url", { type: "text", readonly: true, value: url, "aria-label": t("share.url"),
          on: { focus: (e) => e.target.select() } }),
        h("div.share-actions",
          h("a.button", { href: l.path, target: "_blank", rel: "noopener" }, t("share.open")),
          h("button", { type: "button", on: { click: toggle } }, t(l.enabled ? "share.switch_off" : "share.switch_on")),
          h("button.danger", { type: "button", on: { click: remove } }, t("common.delete"))));
    }));
  };
  const create = async () => {
    try { await api.post(base, {}); } catch (e) { toast(e.display(), "error"); }
    redraw();
  };
  await redraw();
  await dialog(t("share.title"), h("div", h("p.muted", t("share.help")), list), (close) => [
    h("button.primary", { type: "button", "data-testid": "share-new", on: { click: create } }, "+ ", t("share.new")),
    h("button", { type: "button", on: { click: () => close(null) } }, t("share.close")),
  ]);
}
