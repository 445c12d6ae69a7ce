// Sources: what the team watches (rules), edit, remove, trigger a build.
import * as api from "./api.js";
import { h, put, field, input, checkbox, select, list, message, guarded, confirmDialog, formDialog, table, badge,
  when }
  from "./ui.js";
import { connectionLabel } from "./integrations.js";

export async function render(root) {
  const region = h("div", { class: "section-message" });
  put(root, h("div", { class: "section-head" }, h("h1", {}, "Sources"),
    h("button", { type: "button", class: "primary", onclick: () => createSourceDialog({}) }, "New source")), region);
  const [found, all] = await Promise.all([guarded(region, () => api.get("/sources")),
    guarded(region, () => api.connections())]);
  if (!found || !all || !root.contains(region)) return; // another section was opened meanwhile
  if (!found.items.length) {
    root.append(h("p", { class: "muted" }, "No source yet: pick a repository (Repositories) or create one here."));
    return;
  }
  const rows = found.items.map((s) => {
    const c = all.find((x) => x.id === s.connection_id);
    return h("tr", { "data-source": s.id },
      h("td", {}, s.name), h("td", {}, s.repository, h("div", { class: "muted" }, c ? connectionLabel(c) : s.provider)),
      h("td", {}, rulesText(s)),
      h("td", {}, badge(s.status || "active"), s.polling ? h("div", { class: "muted" },
        `polling ${s.polling.status}${s.polling.last_error ? `: ${s.polling.last_error}` : ""}`,
        s.polling.next_poll_at ? h("div", {}, `next poll ${when(s.polling.next_poll_at)}`) : null) : null),
      h("td", {}, h("div", { class: "row-actions" },
        h("button", { type: "button", onclick: () => triggerDialog(s) }, "Trigger build"),
        h("button", { type: "button", onclick: () => editDialog(s) }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: () => remove(s, region) }, "Remove"))));
  });
  root.append(table(["Name", "Repository", "Rules", "Status", "Actions"], rows));
}

function rulesText(s) {
  const parts = [];
  if (s.branches.length) parts.push(`branches ${s.branches.join(", ")}`);
  if (s.pull_requests.enabled) parts.push(`pull requests (forks: ${s.pull_requests.forks})`);
  if (s.tags.length) parts.push(`tags ${s.tags.join(", ")}`);
  if (s.releases) parts.push("releases");
  if (s.paths.include.length) parts.push(`paths ${s.paths.include.join(", ")}`);
  if (s.paths.exclude.length) parts.push(`not ${s.paths.exclude.join(", ")}`);
  if (s.poll) parts.push(s.poll_seconds ? `polled every ${s.poll_seconds} s` : "polled at the default interval");
  return parts.join("; ");
}

// The rule fields, filled from `s` (a source, or {} for a new one).
function ruleFields(s, provider) {
  const pr = s.pull_requests || {};
  const paths = s.paths || {};
  const out = [
    field("Name", input("name", { value: s.name || "" }), "Optional: the repository's name by default"),
    field("Branches", input("branches", { value: (s.branches || (s.id ? [] : ["main"])).join(", ") }),
      "Comma-separated globs, e.g. main, release/*"),
    field("Tags", input("tags", { value: (s.tags || []).join(", ") }), "Globs, e.g. v*"),
    field("Paths to include", input("include", { value: (paths.include || []).join(", ") }), "Globs; empty: all"),
    field("Paths to exclude", input("exclude", { value: (paths.exclude || []).join(", ") })),
    field("Skip flags", input("skip_flags", { value: (s.skip_flags || []).join(", ") }),
      "Empty: [skip ci], [ci skip], [no ci], [skip build]"),
  ];
  if (provider !== "custom") {
    out.push(field("Releases", checkbox("releases", s.releases)),
      h("fieldset", {}, h("legend", {}, "Pull requests"), field("Build pull requests", checkbox("pr", pr.enabled)),
        field("Into branches", input("pr_branches", { value: (pr.branches || []).join(", ") }), "Empty: any"),
        field("Pull requests from forks", select("forks", [["skip", "skip"], ["build", "build"]], pr.forks || "skip"))));
  } else {
    out.push(field("Poll the remote", checkbox("poll", s.id ? s.poll : true)),
      field("Poll every (seconds)", input("poll_seconds", { type: "number", min: 60, max: 86400,
        value: s.poll_seconds || "" }), "Empty: the deployment's default"));
  }
  return out;
}

function rulesFrom(form, provider) {
  const v = (name) => form.querySelector(`[name=${name}]`);
  const body = {
    branches: list(v("branches").value), tags: list(v("tags").value),
    paths: { include: list(v("include").value), exclude: list(v("exclude").value) },
  };
  if (v("name").value.trim()) body.name = v("name").value.trim();
  if (v("skip_flags").value.trim()) body.skip_flags = list(v("skip_flags").value);
  if (provider !== "custom") {
    body.releases = v("releases").checked;
    body.pull_requests = { enabled: v("pr").checked, branches: list(v("pr_branches").value), forks: v("forks").value };
  } else {
    body.poll = v("poll").checked;
    body.poll_seconds = v("poll_seconds").value ? Number(v("poll_seconds").value) : null;
  }
  return body;
}

export async function createSourceDialog({ connection, repository }) {
  const all = await guarded(null, () => api.connections());
  if (!all) return;
  if (!all.length) {
    message(document.getElementById("page-message"), "Link a Git account first (Git integrations).");
    return;
  }
  const chosen = connection || all[0];
  const picker = select("connection_id", all.map((c) => [c.id, connectionLabel(c)]), chosen.id);
  const rules = h("div", {}, ruleFields({}, chosen.provider));
  const repoField = field("Repository", input("repository", { value: repository || "", placeholder: "owner/name" }));
  const sync = () => {
    const c = all.find((x) => x.id === picker.value);
    repoField.hidden = c.provider === "custom";
    put(rules, ...ruleFields({}, c.provider));
  };
  picker.addEventListener("change", sync);
  const promise = formDialog("New source", [field("Connection", picker), repoField, rules], "Create source",
    (form) => {
      const c = all.find((x) => x.id === picker.value);
      const body = { connection_id: c.id, ...rulesFrom(form, c.provider) };
      if (c.provider !== "custom") body.repository = form.querySelector("[name=repository]").value.trim();
      if (body.poll_seconds === null) delete body.poll_seconds;
      return api.post("/sources", body);
    });
  sync();
  const created = await promise;
  if (created) {
    const { show } = await import("./main.js");
    await show("sources");
    message(document.querySelector("#view .section-message"), `Source ${created.name} created.`, "ok");
  }
}

async function editDialog(s) {
  const saved = await formDialog(`Edit ${s.name}`, ruleFields(s, s.provider), "Save",
    (form) => api.patch(`/sources/${s.id}`, rulesFrom(form, s.provider)));
  if (saved) {
    const { show } = await import("./main.js");
    await show("sources");
    message(document.querySelector("#view .section-message"), `Source ${saved.name} saved.`, "ok");
  }
}

async function remove(s, region) {
  const ok = await confirmDialog(`Remove ${s.name}?`, "Pushes to this repository stop building. Builds already " +
    "made stay; the webhook gitconnect registered for it is removed.", "Remove source");
  if (!ok) return;
  if ((await guarded(region, () => api.del(`/sources/${s.id}`))) === undefined) return;
  const { show } = await import("./main.js");
  await show("sources");
  message(document.querySelector("#view .section-message"), `Source ${s.name} removed.`, "ok");
}

// "Trigger build": the default branch, a branch, or a sha.
export async function triggerDialog(s) {
  const fields = [
    h("fieldset", {}, h("legend", {}, "What to build"),
      field("The default branch", h("input", { type: "radio", name: "what", value: "default", checked: true })),
      field("A branch", h("input", { type: "radio", name: "what", value: "branch" })),
      field("A commit", h("input", { type: "radio", name: "what", value: "sha" }))),
    field("Branch", input("branch", { placeholder: "main" })),
    field("Commit sha", input("sha", { placeholder: "full or abbreviated sha", pattern: "[0-9a-fA-F]{7,64}" })),
  ];
  const build = await formDialog(`Trigger a build of ${s.name}`, fields, "Trigger build", (form) => {
    const what = form.querySelector("input[name=what]:checked").value;
    const body = {};
    if (what === "branch") body.branch = form.querySelector("[name=branch]").value.trim();
    if (what === "sha") body.sha = form.querySelector("[name=sha]").value.trim();
    return api.post(`/sources/${s.id}/builds`, body);
  });
  if (build) {
    const { show } = await import("./main.js");
    await show("builds");
    message(document.querySelector("#view .section-message"), `Build of ${build.ref} requested.`, "ok");
  }
}
