// GitOps: templates and release flows — a JSON editor, the file they sync with, versions, conflicts, runs, settings.
import * as api from "./api.js";
import { Problem } from "./api.js";
import { h, put, field, input, checkbox, select, list, message, guarded, confirmDialog, table, when, badge }
  from "./ui.js";
import { connectionLabel } from "./integrations.js";

const KINDS = [["template", "Template"], ["release_flow", "Release flow"]];
// gitops.write: where a save goes. Pull-request mode is for GitHub, GitLab and Bitbucket (Custom Git has no pull
// requests): a save commits to gitconnect's branch and opens or updates a pull request (a protected branch needs it).
const WRITE_MODES = [["direct", "Commit to the branch"], ["pull_request", "Open a pull request"]];
const proposes = (connections, connectionId) => {
  const c = connections.find((x) => x.id === connectionId);
  return Boolean(c) && c.provider !== "custom";
};
// A save or a creation in pull-request mode: what was proposed, linked to the provider's page.
const proposal = (pr) => pr ? [`Pull request #${pr.number} ${pr.action}`, pr.branch ? [" from ", h("code", {}, pr.branch)]
  : "", pr.url ? [": ", h("a", { href: pr.url, target: "_blank", rel: "noopener" }, pr.url)] : "", "."] : "";

const POLICIES = [["allow", "allow: every run starts"], ["queue", "queue: one at a time, in order"],
  ["forbid", "forbid: none while one is active"]];

// A JSON editor: a labelled textarea that says, as you type, whether its text is a JSON object.
function jsonEditor(content, label = "Content (JSON)") {
  const area = h("textarea", { name: "content", rows: 14, spellcheck: "false", class: "code" });
  area.value = JSON.stringify(content === undefined ? {} : content, null, 2);
  const state = h("small", { class: "hint", role: "status" });
  const check = () => {
    try {
      const parsed = JSON.parse(area.value);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
      area.removeAttribute("aria-invalid");
      state.textContent = "Valid JSON object.";
      state.className = "hint ok";
      return parsed;
    } catch (error) {
      area.setAttribute("aria-invalid", "true");
      state.textContent = `Not a valid JSON object: ${error.message}`;
      state.className = "hint bad";
      return undefined;
    }
  };
  area.addEventListener("input", check);
  const node = field(label, area);
  node.append(state);
  check();
  return {
    node,
    value: () => {
      const parsed = check();
      if (parsed === undefined) throw new Problem(0, { title: "The content is not valid JSON", detail: state.textContent });
      return parsed;
    },
    set: (value) => { area.value = JSON.stringify(value, null, 2); check(); },
  };
}

const pretty = (value) => h("pre", { class: "code" }, value === null || value === undefined ? "(none)"
  : JSON.stringify(value, null, 2));

export async function render(root, templateId) {
  if (templateId) return detail(root, templateId);
  const region = h("div", { class: "section-message" });
  put(root, h("div", { class: "section-head" }, h("h1", {}, "GitOps"),
    h("button", { type: "button", class: "primary", onclick: () => createView(root) }, "New template or release flow")),
  region);
  const found = await guarded(region, () => api.get("/templates"));
  if (!found || !root.contains(region)) return; // another view was opened meanwhile
  const rows = found.items.map((t) => h("tr", { "data-template": t.id },
    h("td", {}, h("button", { type: "button", class: "link", onclick: () => detail(root, t.id) }, t.name)),
    h("td", {}, t.kind === "release_flow" ? "release flow" : "template"), h("td", {}, String(t.version)),
    h("td", {}, t.gitops ? [`${t.gitops.repository || ""} ${t.gitops.branch}:${t.gitops.path} `,
      badge(t.gitops.status)] : "not synced with Git"),
    h("td", {}, `${t.run_on_update ? "runs on update" : "manual runs"}, ${t.concurrency}`)));
  root.append(found.items.length ? table(["Name", "Kind", "Version", "Git file", "Runs"], rows)
    : h("p", { class: "muted" }, "No template or release flow yet."));
}

// Repository, branch and path of a file, and "Fetch": whether it exists, its content loaded into the editor.
function fileChooser(connections, editor, onFetched) {
  const picker = select("gitops_connection", connections.map((c) => [c.id, connectionLabel(c)]),
    connections[0] && connections[0].id);
  const repository = input("gitops_repository", { placeholder: "owner/name" });
  const repoField = field("Repository", repository);
  const branch = input("gitops_branch", { value: "main" });
  const path = input("gitops_path", { placeholder: "templates/app.json" });
  const result = h("div", { class: "fetch-result", role: "status", id: "fetch-result" });
  const sync = () => {
    const c = connections.find((x) => x.id === picker.value);
    repoField.hidden = !c || c.provider === "custom";
  };
  picker.addEventListener("change", sync);
  sync();
  const where = () => {
    const c = connections.find((x) => x.id === picker.value);
    const out = { connection_id: picker.value, branch: branch.value.trim(), path: path.value.trim() };
    if (c && c.provider !== "custom") out.repository = repository.value.trim();
    return out;
  };
  const fetchButton = h("button", { type: "button", onclick: async () => {
    const found = await guarded(result, () => api.post("/gitops/fetch", where()), fetchButton);
    if (!found) return;
    const at = `commit ${String(found.sha).slice(0, 12)}`;
    if (found.exists && editor) {
      editor.set(found.content);
      message(result, `The file exists (${at}): its content is in the editor.`, "ok");
    } else if (found.exists) {
      message(result, `The file exists (${at}): linking it takes its content.`, "ok");
    } else {
      message(result, "No file there yet: saving creates it with the template's content.", "info");
    }
    onFetched(found);
  } }, "Fetch");
  return { node: h("fieldset", {}, h("legend", {}, "Git file"), field("Connection", picker), repoField,
    field("Branch", branch), field("Path", path), fetchButton, result), where };
}

function triggerFields(connections, triggers) {
  const t = triggers || {};
  const picker = select("trigger_connection", connections.map((c) => [c.id, connectionLabel(c)]),
    t.connection_id || (connections[0] && connections[0].id));
  const node = h("fieldset", {}, h("legend", {}, "Git triggers (release flows)"),
    field("Run on pushes and pull requests", checkbox("triggers_on", Boolean(triggers))),
    field("Connection", picker), field("Repository", input("trigger_repository", { value: t.repository || "" })),
    field("Branches", input("trigger_branches", { value: (t.branches || []).join(", ") }), "Globs"),
    field("Pull requests", checkbox("trigger_prs", t.pull_requests)),
    field("Paths to include", input("trigger_include", { value: ((t.paths || {}).include || []).join(", ") })),
    field("Paths to exclude", input("trigger_exclude", { value: ((t.paths || {}).exclude || []).join(", ") })));
  const value = () => {
    const q = (name) => node.querySelector(`[name=${name}]`);
    if (!q("triggers_on").checked) return null;
    const out = { connection_id: picker.value, branches: list(q("trigger_branches").value),
      pull_requests: q("trigger_prs").checked,
      paths: { include: list(q("trigger_include").value), exclude: list(q("trigger_exclude").value) } };
    const c = connections.find((x) => x.id === picker.value);
    if (c && c.provider !== "custom") out.repository = q("trigger_repository").value.trim();
    return out;
  };
  return { node, value };
}

async function createView(root) {
  const region = h("div", { class: "section-message" });
  const connections = (await guarded(region, () => api.connections())) || [];
  const editor = jsonEditor({});
  const name = input("name", { required: true });
  const kind = select("kind", KINDS, "template");
  const synced = checkbox("synced", connections.length > 0);
  const create = h("input", { type: "radio", name: "mode", value: "create", checked: true });
  const link = h("input", { type: "radio", name: "mode", value: "link" });
  const chooser = fileChooser(connections, editor, (found) => {
    create.checked = !found.exists;
    link.checked = found.exists;
  });
  const commitMessage = input("commit_message", { placeholder: "Add the template" });
  const write = select("gitops_write", WRITE_MODES, "direct");
  const writeField = field("Write", write, "A protected branch takes pull requests only");
  const showWrite = () => { writeField.hidden = !proposes(connections, chooser.where().connection_id); };
  chooser.node.querySelector("[name=gitops_connection]").addEventListener("change", showWrite);
  showWrite();
  const runOnUpdate = checkbox("run_on_update", false);
  const concurrency = select("concurrency", POLICIES, "allow");
  const triggers = triggerFields(connections, null);
  triggers.node.hidden = true;
  kind.addEventListener("change", () => { triggers.node.hidden = kind.value !== "release_flow"; });
  const gitGroup = h("div", {}, chooser.node, h("fieldset", {}, h("legend", {}, "File"),
    field("Save as a new file (commit the editor's content)", create),
    field("Link the existing file (take its content)", link)), field("Commit message", commitMessage), writeField);
  synced.addEventListener("change", () => { gitGroup.hidden = !synced.checked; });
  gitGroup.hidden = !synced.checked;
  const form = h("form", { class: "stack" }, field("Name", name), field("Kind", kind),
    field("Sync with a file in Git", synced), gitGroup, editor.node,
    h("fieldset", {}, h("legend", {}, "Runs"), field("Run on update", runOnUpdate), field("Concurrency", concurrency)),
    triggers.node, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create"),
      h("button", { type: "button", onclick: () => render(root) }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await guarded(region, () => {
      const body = { name: name.value.trim(), kind: kind.value, run_on_update: runOnUpdate.checked,
        concurrency: concurrency.value };
      const mode = link.checked ? "link" : "create";
      if (mode === "create" || !synced.checked) body.content = editor.value();
      if (synced.checked) {
        body.gitops = { ...chooser.where(), mode };
        if (commitMessage.value.trim()) body.gitops.commit_message = commitMessage.value.trim();
        if (!writeField.hidden && write.value !== "direct") body.gitops.write = write.value;
      }
      if (kind.value === "release_flow" && triggers.value()) body.triggers = triggers.value();
      return api.post("/templates", body);
    }, form.querySelector("button[type=submit]"));
    if (created) {
      await detail(root, created.id);
      const pr = created.gitops && created.gitops.last_pull_request;
      message(root.querySelector(".section-message"), h("span", {}, `${created.name} created (version ${created.version}). `,
        pr && pr.action === "opened" ? proposal(pr) : ""), "ok");
    }
  });
  put(root, h("h1", {}, "New template or release flow"), region, form);
}

async function detail(root, id) {
  const region = h("div", { class: "section-message" });
  put(root, h("p", {}, h("button", { type: "button", class: "link", onclick: () => render(root) },
    "← All templates")), region);
  const [t, versions, runs, connections] = await Promise.all([
    guarded(region, () => api.get(`/templates/${id}`)), guarded(region, () => api.get(`/templates/${id}/versions`)),
    guarded(region, () => api.get(`/templates/${id}/runs`)), guarded(region, () => api.connections())]);
  if (!t || !root.contains(region)) return; // another view was opened meanwhile
  const g = t.gitops;
  root.append(h("h1", {}, t.name, " ", h("span", { class: "muted" }, `${t.kind === "release_flow" ? "release flow"
    : "template"}, version ${t.version}`)));
  if (g) {
    root.append(h("p", { id: "gitops-status" }, "Git file: ", g.repository ? [h("strong", {}, g.repository), ", "] : "",
      "branch ", h("code", {}, g.branch), ", ", h("code", {}, g.path), " ", badge(g.status),
      g.last_synced_sha ? [" last synced at ", h("code", {}, g.last_synced_sha.slice(0, 12))] : "",
      g.write === "pull_request" ? [" · saves open a pull request"] : ""));
    if (g.last_pull_request) root.append(h("p", { id: "last-pull-request" }, "Last proposed: ", proposal(g.last_pull_request)));
  }
  const editor = jsonEditor(t.content);
  const commitMessage = input("commit_message", { placeholder: `Update ${t.name}` });
  const conflict = h("div", { id: "conflict" });
  let base = t.version;
  const save = async (extra, button) => {
    put(conflict);
    try {
      if (button) button.disabled = true;
      const body = { content: editor.value(), base_version: base, ...extra };
      if (commitMessage.value.trim()) body.commit_message = commitMessage.value.trim();
      const saved = await api.put(`/templates/${id}`, body);
      await detail(root, id);
      // 202 in pull-request mode: nothing is a version until the pull request is merged
      message(root.querySelector(".section-message"), saved.pull_request ? h("span", {}, proposal(saved.pull_request),
        ` Version ${saved.version} stays current until it is merged.`) : `Saved: version ${saved.version}.`, "ok");
    } catch (error) {
      if (error instanceof Problem && error.status === 409) showConflict(error);
      else message(region, error);
    } finally {
      if (button) button.disabled = false;
    }
  };
  // The invalid-JSON state: the repository's file was refused; saving over it names its commit.
  const invalid = (commitSha, reason) => h("div", { class: "message error", role: "alert", id: "invalid-file" },
    h("strong", {}, "The repository holds an invalid file. "),
    `${g ? g.path : "The file"} at commit `, h("code", {}, commitSha || "?"), ` was refused: ${reason || "invalid"}. `,
    `The last good version (${t.version}) is kept.`,
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary",
      onclick: (event) => save({ replaces_commit: commitSha }, event.target) }, "Replace the invalid file with the editor's content")));
  const showConflict = (problem) => {
    const b = problem.body;
    message(region, problem);
    if (b.commit_sha) {
      put(conflict, invalid(b.commit_sha, b.reason));
      conflict.scrollIntoView({ block: "start" });
      return;
    }
    const theirs = b.repository ? b.repository.content : b.current && b.current.content;
    const theirsLabel = b.repository ? `In the repository (commit ${String(b.repository.sha || "").slice(0, 12)})`
      : `Current (version ${b.current.version})`;
    put(conflict, h("section", { class: "conflict", "aria-label": "Conflict" },
      h("h2", {}, "Conflict: both sides"),
      h("p", {}, b.repository
        ? "The file changed in the repository since the last sync. The next sync makes it a version; take it, or " +
          "keep yours and save again once it arrived."
        : `Someone saved version ${b.current.version} after the version you edited. Keep yours (it becomes the ` +
          "next version) or take theirs into the editor."),
      h("div", { class: "sides" },
        h("div", {}, h("h3", {}, "Yours"), pretty(b.yours ? b.yours.content : safe(editor))),
        h("div", {}, h("h3", {}, theirsLabel), pretty(theirs))),
      h("div", { class: "actions" },
        b.current ? h("button", { type: "button", class: "primary", onclick: (event) => {
          base = b.current.version;
          save({}, event.target);
        } }, `Keep mine (save over version ${b.current.version})`) : null,
        h("button", { type: "button", onclick: async () => {
          if (b.repository) {
            await detail(root, id);
            return;
          }
          editor.set(theirs);
          base = b.current.version;
          put(conflict);
          message(region, `Version ${b.current.version} is in the editor.`, "info");
        } }, b.repository ? "Reload (take the repository's version once synced)" : "Take theirs"))));
    conflict.scrollIntoView({ block: "start" });
    const first = conflict.querySelector("h2");
    first.tabIndex = -1;
    first.focus({ preventScroll: true });
  };
  if (g && g.status === "error" && g.last_error) root.append(invalid(g.last_error.commit_sha, g.last_error.reason));
  const saveButton = h("button", { type: "submit", class: "primary" }, g && g.status !== "unlinked"
    ? "Save and commit" : "Save");
  const form = h("form", { class: "stack" }, editor.node, g ? field("Commit message", commitMessage) : null,
    h("div", { class: "actions" }, saveButton));
  form.addEventListener("submit", (event) => { event.preventDefault(); save({}, saveButton); });
  root.append(form, conflict);

  root.append(h("h2", {}, "Versions"), versions ? table(["Version", "From", "Commit", "By", "When"],
    versions.items.map((v) => h("tr", { "data-version": v.version }, h("td", {}, String(v.version)),
      h("td", {}, v.origin === "git" ? "a commit" : "the app"),
      h("td", {}, v.commit_sha ? h("code", {}, v.commit_sha.slice(0, 12)) : ""), h("td", {}, v.author || ""),
      h("td", {}, when(v.created_at))))) : null);

  const runButton = h("button", { type: "button", onclick: async () => {
    const started = await guarded(region, () => api.post(`/templates/${id}/runs`), runButton);
    if (started) {
      await detail(root, id);
      message(root.querySelector(".section-message"), `Run of version ${started.version}: ${started.status}.`, "ok");
    }
  } }, "Run the latest version");
  root.append(h("div", { class: "section-head" }, h("h2", {}, "Runs"), runButton), runs && runs.items.length
    ? table(["Version", "Status", "Why", "Requested"], runs.items.map((r) => h("tr", { "data-run": r.id },
      h("td", {}, String(r.version)), h("td", {}, badge(r.status), r.position ? ` (position ${r.position})` : ""),
      h("td", {}, r.reason || r.description || "", r.ref ? h("div", { class: "muted" }, h("code", {}, r.ref),
        r.sha ? [" at ", h("code", {}, String(r.sha).slice(0, 7))] : "") : null), h("td", {}, when(r.created_at)))))
    : h("p", { class: "muted" }, "No run yet."));
  root.append(settings(root, t, connections || [], region));
}

const safe = (editor) => { try { return editor.value(); } catch { return null; } };

// PATCH settings: name, run on update, concurrency, triggers, GitOps on or off; delete.
function settings(root, t, connections, region) {
  const name = input("settings_name", { value: t.name });
  const runOnUpdate = checkbox("settings_run_on_update", t.run_on_update);
  const concurrency = select("settings_concurrency", POLICIES, t.concurrency);
  const triggers = t.kind === "release_flow" ? triggerFields(connections, t.triggers) : null;
  const linked = t.gitops && t.gitops.status !== "unlinked";
  const write = linked && proposes(connections, t.gitops.connection_id)
    ? select("settings_write", WRITE_MODES, t.gitops.write || "direct") : null;
  const form = h("form", { class: "stack", "aria-labelledby": "settings-title" },
    h("h2", { id: "settings-title" }, "Settings"), field("Name", name), field("Run on update", runOnUpdate),
    field("Concurrency", concurrency), write ? field("Saves to Git", write) : null, triggers ? triggers.node : null,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save settings")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), run_on_update: runOnUpdate.checked, concurrency: concurrency.value };
    if (triggers) body.triggers = triggers.value();
    if (write && write.value !== (t.gitops.write || "direct")) body.gitops = { write: write.value };
    const saved = await guarded(region, () => api.patch(`/templates/${t.id}`, body), form.querySelector("button"));
    if (saved) {
      await detail(root, t.id);
      message(root.querySelector(".section-message"), "Settings saved.", "ok");
    }
  });
  const extra = h("div", { class: "actions" });
  const gitopsOn = t.gitops ? null : enableGitOps(root, t, connections, region);
  if (t.gitops) {
    extra.append(h("button", { type: "button", onclick: async () => {
      const ok = await confirmDialog("Stop syncing with Git?", `The file stays in the repository; ${t.name} keeps ` +
        "its content and versions, and saves stay in the app.", "Stop syncing");
      if (ok && await guarded(region, () => api.patch(`/templates/${t.id}`, { gitops: null }))) await detail(root, t.id);
    } }, "Stop syncing with Git"));
  }
  extra.append(h("button", { type: "button", class: "danger", onclick: async () => {
    const ok = await confirmDialog(`Delete ${t.name}?`, "Its versions and runs go; a file in Git stays.", "Delete");
    if (ok && (await guarded(region, () => api.del(`/templates/${t.id}`))) !== undefined) await render(root);
  } }, "Delete"));
  return h("div", {}, form, gitopsOn, extra);
}

// GitOps turned on for a template kept in the app: save it as a new file, or take an existing file's content.
function enableGitOps(root, t, connections, region) {
  if (!connections.length) return null;
  const create = h("input", { type: "radio", name: "enable_mode", value: "create", checked: true });
  const link = h("input", { type: "radio", name: "enable_mode", value: "link" });
  const chooser = fileChooser(connections, null, (found) => { create.checked = !found.exists; link.checked = found.exists; });
  const commitMessage = input("enable_commit_message", { placeholder: `Add ${t.name}` });
  const form = h("form", { class: "stack", "aria-labelledby": "enable-title" },
    h("h2", { id: "enable-title" }, "Sync with a Git file"), chooser.node,
    h("fieldset", {}, h("legend", {}, "File"), field("Save the template as a new file", create),
      field("Link the existing file (its content becomes a version)", link)),
    field("Commit message", commitMessage),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Start syncing")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const gitops = { ...chooser.where(), mode: link.checked ? "link" : "create" };
    if (commitMessage.value.trim()) gitops.commit_message = commitMessage.value.trim();
    const saved = await guarded(region, () => api.patch(`/templates/${t.id}`, { gitops }),
      form.querySelector("button[type=submit]"));
    if (saved) {
      await detail(root, t.id);
      message(root.querySelector(".section-message"), "Syncing with Git.", "ok");
    }
  });
  return form;
}
