// Builds, newest first; refreshes while any shown build is still moving (queued or running).
import * as api from "./api.js";
import { h, put, field, select, message, guarded, table, when, badge } from "./ui.js";
import { triggerDialog } from "./sources.js";

const MOVING = new Set(["queued", "running"]);
const REFRESH_MS = 3000;
let timer = null;
const webUrls = new Map(); // connection id + repository -> the repository's web page (for commit links)

export function stop() { clearTimeout(timer); timer = null; }

async function webUrl(connection, repository) {
  const key = `${connection.id} ${repository}`;
  if (!webUrls.has(key)) {
    webUrls.set(key, api.get(`/connections/${connection.id}/repositories`, { search: repository, limit: 10 })
      .then((page) => (page.items.find((r) => r.full_name === repository) || {}).web_url || null)
      .catch(() => null));
  }
  return webUrls.get(key);
}

function commitUrl(provider, web, sha) {
  if (!web) return null;
  const base = web.replace(/\/$/, "");
  if (provider === "github") return `${base}/commit/${sha}`;
  if (provider === "gitlab") return `${base}/-/commit/${sha}`;
  if (provider === "bitbucket") return `${base}/commits/${sha}`;
  return null; // a plain Git remote has no commit pages
}

export async function render(root) {
  stop();
  const region = h("div", { class: "section-message" });
  const [sources, all] = await Promise.all([guarded(region, () => api.get("/sources")),
    guarded(region, () => api.connections())]);
  const filter = select("source_id", [["", "All sources"], ...((sources && sources.items) || []).map((s) =>
    [s.id, s.name])], "");
  const trigger = h("button", { type: "button", class: "primary", onclick: () => {
    const s = ((sources && sources.items) || []).find((x) => x.id === filter.value) || (sources && sources.items[0]);
    if (s) triggerDialog(s);
    else message(region, "Create a source first (Sources): a build is of a source's repository.");
  } }, "Trigger build");
  const list = h("div", { id: "builds" });
  const refresh = h("button", { type: "button", onclick: () => first() }, "Refresh");
  put(root, h("div", { class: "section-head" }, h("h1", {}, "Builds"), trigger), region,
    h("div", { class: "toolbar" }, field("Source", filter), refresh), list);
  let shown = [];
  let cursor = null;
  const paint = () => {
    const rows = shown.map((b) => {
      const shaCell = h("td", {}, h("code", {}, b.sha.slice(0, 7)));
      const c = (all || []).find((x) => x.id === b.connection_id);
      if (c) {
        webUrl(c, b.repository).then((web) => {
          const url = commitUrl(b.provider, web, b.sha);
          if (url) put(shaCell, h("a", { href: url, target: "_blank", rel: "noopener", title: b.sha },
            h("code", {}, b.sha.slice(0, 7))));
        });
      }
      return h("tr", { "data-build": b.id },
        h("td", {}, when(b.created_at)), h("td", {}, b.repository),
        h("td", {}, b.triggers && b.triggers.length > 1 ? b.triggers.join(" + ") : b.trigger),
        h("td", {}, h("code", {}, b.ref)), shaCell,
        h("td", {}, b.url ? h("a", { href: b.url, target: "_blank", rel: "noopener" }, badge(b.status))
          : badge(b.status), b.description ? h("div", { class: "muted" }, b.description) : null));
    });
    put(list, shown.length ? table(["Requested", "Repository", "Trigger", "Ref", "Commit", "Status"], rows)
      : h("p", { class: "muted" }, "No build yet."),
    cursor ? h("button", { type: "button", onclick: more }, "Older builds") : null);
  };
  const first = async () => {
    stop();
    const page = await guarded(region, () => api.get("/builds", { source_id: filter.value, limit: 25 }));
    if (!page || !document.body.contains(list)) return; // another section was opened meanwhile
    // A refresh replaces the newest page and keeps the older pages already shown.
    const ids = new Set(page.items.map((b) => b.id));
    shown = [...page.items, ...shown.slice(25).filter((b) => !ids.has(b.id))];
    if (shown.length <= 25) cursor = page.next_cursor;
    paint();
    if (shown.some((b) => MOVING.has(b.status))) {
      timer = setTimeout(() => { if (document.body.contains(list)) first(); }, REFRESH_MS);
    }
  };
  async function more() {
    const page = await guarded(region, () => api.get("/builds", { source_id: filter.value, cursor, limit: 25 }));
    if (!page) return;
    shown = [...shown, ...page.items];
    cursor = page.next_cursor;
    paint();
  }
  filter.addEventListener("change", () => { stop(); shown = []; cursor = null; first(); });
  await first();
}
