// Deliveries: the webhook and poll log per connection, with the reason per source ("why didn't this build?").
import * as api from "./api.js";
import { h, put, field, select, guarded, table, when, badge } from "./ui.js";
import { connectionLabel } from "./integrations.js";

export async function render(root) {
  const region = h("div", { class: "section-message" });
  const all = (await guarded(region, () => api.connections())) || [];
  const filter = select("connection_id", [["", "All connections"], ...all.map((c) => [c.id, connectionLabel(c)])], "");
  const refresh = h("button", { type: "button" }, "Refresh");
  const list = h("div", { id: "deliveries" });
  put(root, h("h1", {}, "Deliveries"), region, h("div", { class: "toolbar" }, field("Connection", filter),
    refresh), list);
  let shown = [];
  let cursor = null;
  const paint = () => {
    const rows = shown.map((d) => h("tr", { "data-delivery": d.id, "data-outcome": d.outcome },
      h("td", {}, when(d.received_at)), h("td", {}, d.event),
      h("td", {}, d.repository || ""), h("td", {}, badge(d.outcome)),
      h("td", { class: "reason" }, (d.reason || "").split("\n").map((line) => h("div", {}, line))),
      h("td", {}, d.build_ids.length ? `${d.build_ids.length} build(s)` : "")));
    put(list, shown.length ? table(["Received", "Event", "Repository", "Outcome", "Why", "Builds"], rows)
      : h("p", { class: "muted" }, "Nothing delivered yet."),
    cursor ? h("button", { type: "button", onclick: () => load(cursor) }, "Older deliveries") : null);
  };
  const load = async (from) => {
    const page = await guarded(region, () => api.get("/deliveries", { connection_id: filter.value, cursor: from }));
    if (!page || !document.body.contains(list)) return;
    shown = from ? [...shown, ...page.items] : page.items;
    cursor = page.next_cursor;
    paint();
  };
  filter.addEventListener("change", () => load(null));
  refresh.addEventListener("click", () => load(null));
  await load(null);
}
