// Repositories: search and page through everything a connection reaches (the API's cursors), pick one, its branches.
import * as api from "./api.js";
import { h, put, field, input, select, message, guarded, table } from "./ui.js";
import { connectionLabel } from "./integrations.js";
import { createSourceDialog } from "./sources.js";

const PAGE = 50;

export async function render(root) {
  const region = h("div", { class: "section-message" });
  put(root, h("h1", {}, "Repositories"), region);
  const all = await guarded(region, () => api.connections());
  if (!all || !root.contains(region)) return; // another section was opened meanwhile
  if (!all.length) {
    message(region, "Link a Git account first (Git integrations).");
    return;
  }
  const picker = select("connection", all.map((c) => [c.id, connectionLabel(c)]), all[0].id);
  const search = input("search", { type: "search", placeholder: "part of owner/name" });
  const form = h("form", { class: "toolbar", role: "search" }, field("Connection", picker), field("Search", search),
    h("button", { type: "submit", class: "primary" }, "Search"));
  const results = h("div", { id: "repo-results" });
  const detail = h("div", { id: "repo-detail" });
  root.append(form, h("div", { class: "split" }, results, detail));
  // The cursors of the pages seen so far: Previous goes back one, Next follows the API's next_cursor.
  let cursors = [null];
  let timer = null;
  const load = async (index) => {
    const connection = all.find((c) => c.id === picker.value);
    let page;
    try {
      page = await api.get(`/connections/${connection.id}/repositories`,
        { search: search.value.trim(), cursor: cursors[index], limit: PAGE });
    } catch (error) {
      if (!root.contains(results)) return;
      // A cursor outlives the listing it came from (GITCONNECT_LISTING_CACHE_SECONDS): the API says to list again.
      if (error instanceof api.Problem && error.status === 400 && cursors[index]) {
        cursors = [null];
        await load(0);
        message(region, `${error.detail || error.title} Back on the first page.`, "info");
      } else {
        message(region, error);
      }
      return;
    }
    if (!root.contains(results)) return;
    message(region, null);
    cursors = cursors.slice(0, index + 1);
    if (page.next_cursor) cursors.push(page.next_cursor);
    const rows = page.items.map((r) => h("tr", {},
      h("td", {}, h("button", { type: "button", class: "link", "data-repo": r.full_name,
        onclick: () => showRepository(detail, connection, r) }, r.full_name)),
      h("td", {}, r.default_branch || ""), h("td", {}, r.private ? "private" : "public")));
    const first = index * PAGE + 1;
    const status = page.items.length
      ? `Page ${index + 1}: repositories ${first} to ${first + page.items.length - 1}${page.next_cursor ? "" : " (last page)"}`
      : "No repository matches.";
    put(results, 
      h("p", { role: "status", id: "repo-page-status" }, status),
      page.items.length ? table(["Repository", "Default branch", "Visibility"], rows) : null,
      h("div", { class: "pager" },
        h("button", { type: "button", disabled: index === 0, onclick: () => load(index - 1) }, "Previous page"),
        h("button", { type: "button", disabled: !page.next_cursor, onclick: () => load(index + 1) }, "Next page")));
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); cursors = [null]; load(0); });
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { cursors = [null]; load(0); }, 350);
  });
  picker.addEventListener("change", () => { cursors = [null]; put(detail); load(0); });
  await load(0);
}

async function showRepository(detail, connection, repository) {
  const region = h("div", {});
  const branches = h("div", {});
  put(detail, h("h2", {}, repository.full_name), region,
    h("p", {}, repository.web_url ? h("a", { href: repository.web_url, target: "_blank", rel: "noopener" },
      "Open on the provider") : null),
    h("button", { type: "button", class: "primary",
      onclick: () => createSourceDialog({ connection, repository: repository.full_name }) }, "Create a source"),
    h("h3", {}, "Branches"), branches);
  const more = async (cursor, rows) => {
    const page = await guarded(region, () => api.get(`/connections/${connection.id}/branches`,
      { repository: connection.provider === "custom" ? undefined : repository.full_name, cursor, limit: 100 }));
    if (!page) return;
    rows.push(...page.items.map((b) => h("tr", {}, h("td", {}, b.name), h("td", {}, h("code", {}, b.sha.slice(0, 7))))));
    put(branches, table(["Branch", "Head"], rows),
      page.next_cursor ? h("button", { type: "button", onclick: () => more(page.next_cursor, rows) }, "More branches")
        : null);
  };
  await more(null, []);
}
