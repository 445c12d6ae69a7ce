// Git integrations: linked accounts per provider, the Link flows, restrictions, regenerate, unlink.
import * as api from "./api.js";
import { h, put, field, input, checkbox, message, guarded, dialog, confirmDialog, formDialog, table, when, badge }
  from "./ui.js";

export const PROVIDERS = [
  ["github", "GitHub"], ["gitlab", "GitLab"], ["bitbucket", "Bitbucket"], ["custom", "Custom Git"],
];
export const providerName = (id) => (PROVIDERS.find(([p]) => p === id) || [id, id])[1];
export const connectionLabel = (c) => `${providerName(c.provider)}: ${c.account || c.name}`;

function restrictionsText(c) {
  if (c.provider === "custom") return "one repository";
  const r = c.restrictions || {};
  const text = r.mode === "restricted" ? `restricted to ${(r.namespaces || []).join(", ")}` : "unrestricted";
  return r.confirmed === false ? `${text} (not confirmed yet)` : text;
}

export async function render(root) {
  const region = h("div", { class: "section-message" });
  const body = h("div", {});
  put(root, h("h1", {}, "Git integrations"), region, body);
  const all = await guarded(region, () => api.connections(true));
  if (!all || !root.contains(region)) return; // another section was opened meanwhile
  const usable = all.filter((c) => c.status === "active");
  if (!usable.length) {
    body.append(h("div", { class: "prompt", role: "note", id: "no-connection" },
      h("h2", {}, "No usable Git connection"),
      h("p", {}, all.length
        ? "None of this team's Git accounts can build right now (see their status below)."
        : "This team has not linked a Git account yet: one is needed to browse repositories and build them.",
      " ", api.isAdmin() ? "Link an account to continue." : "Ask an admin of the team to link one."),
      h("div", { class: "actions" }, PROVIDERS.map(([id, name]) => linkButton(id, name, region)))));
  }
  for (const [id, name] of PROVIDERS) {
    const mine = all.filter((c) => c.provider === id);
    const rows = mine.map((c) => h("tr", { "data-connection": c.id },
      h("td", {}, c.account || c.name, c.account && c.name !== c.account ? h("div", { class: "muted" }, c.name) : null),
      h("td", {}, c.base_url || ""),
      h("td", {}, badge(c.status.replace(/_/g, " "))),
      h("td", {}, restrictionsText(c),
        c.repository_selection === "selected" && c.repositories
          ? h("div", { class: "muted" }, `repositories: ${c.repositories.join(", ")}`) : null),
      h("td", {}, when(c.created_at)),
      h("td", {}, h("div", { class: "row-actions" }, accountActions(c, region)))));
    body.append(h("section", { class: "provider", "aria-labelledby": `p-${id}` },
      h("div", { class: "section-head" }, h("h2", { id: `p-${id}` }, name), linkButton(id, name, region)),
      mine.length
        ? table(["Account", "Instance", "Status", "Restrictions", "Linked", "Actions"], rows)
        : h("p", { class: "muted" }, `No ${name} account linked.`)));
  }
}

function accountActions(c, region) {
  const out = [];
  if (c.settings_url) {
    out.push(h("a", { class: "button", href: c.settings_url, target: "_blank", rel: "noopener noreferrer" },
      "Edit installation"));
  }
  if (!api.isAdmin()) return out;
  if (c.provider !== "custom") {
    out.push(h("button", { type: "button", onclick: () => restrictDialog(c, region) }, "Restrict namespaces"));
  }
  if (c.provider === "gitlab" || c.provider === "bitbucket") {
    out.push(h("button", { type: "button", onclick: () => regenerate(c, region) }, "Regenerate webhooks"));
  }
  out.push(h("button", { type: "button", class: "danger", onclick: () => unlink(c, region) }, "Unlink"));
  return out;
}

async function regenerate(c, region) {
  const ok = await confirmDialog(`Regenerate webhooks of ${connectionLabel(c)}?`,
    "Every webhook gitconnect registered for this account gets a new secret. Deliveries signed with the old " +
    "secret stop working at once (they build nothing).", "Regenerate webhooks");
  if (!ok) return;
  const done = await guarded(region, () => api.post(`/connections/${c.id}/webhooks/regenerate`));
  if (done) message(region, `${done.regenerated} webhook(s) of ${connectionLabel(c)} have a new secret.`, "ok");
}

async function unlink(c, region) {
  const ok = await confirmDialog(`Unlink ${connectionLabel(c)}?`,
    "The builds already made stay. Future builds from this account stop: its sources stop watching and " +
    "gitconnect removes the webhooks it registered.", "Unlink");
  if (!ok) return;
  if ((await guarded(region, () => api.del(`/connections/${c.id}`))) === undefined) return;
  api.forgetConnections();
  await render(document.getElementById("view"));
  message(document.querySelector("#view .section-message"), `${connectionLabel(c)} was unlinked.`, "ok");
}

// The namespaces picker: what the account reaches, each checked when allowed.
export async function restrictDialog(c, region) {
  const found = await guarded(region, () => api.get(`/connections/${c.id}/namespaces`));
  if (!found) return;
  const restricted = c.restrictions && c.restrictions.mode === "restricted";
  const unrestrictedRadio = h("input", { type: "radio", name: "mode", value: "unrestricted", checked: !restricted });
  const restrictedRadio = h("input", { type: "radio", name: "mode", value: "restricted", checked: restricted });
  const boxes = found.items.map((n) => field(n.name,
    checkbox("namespace", restricted && n.allowed, { value: n.name, "data-namespace": n.name })));
  const fields = [
    h("p", {}, "Which of the namespaces this account reaches may the team use? Repositories elsewhere are not " +
      "listed, watched or built."),
    h("fieldset", {}, h("legend", {}, "Access"), field("All namespaces (unrestricted)", unrestrictedRadio),
      field("Only the namespaces picked below (restricted)", restrictedRadio)),
    h("fieldset", {}, h("legend", {}, "Namespaces"), boxes.length ? boxes : h("p", {}, "None reachable.")),
  ];
  const saved = await formDialog(`Restrict ${connectionLabel(c)}`, fields, "Save restrictions", async (form) => {
    const mode = form.querySelector("input[name=mode]:checked").value;
    const body = mode === "restricted"
      ? { mode, namespaces: [...form.querySelectorAll("input[name=namespace]:checked")].map((b) => b.value) }
      : { mode };
    return api.put(`/connections/${c.id}/restrictions`, body);
  });
  if (saved) {
    api.forgetConnections();
    await render(document.getElementById("view"));
    message(document.querySelector("#view .section-message"),
      `Restrictions of ${connectionLabel(saved)} saved: ${restrictionsText(saved)}.`, "ok");
  }
}

function linkButton(id, name, region) {
  if (!api.isAdmin()) return null;
  const open = { github: linkGitHub, gitlab: linkGitLab, bitbucket: linkBitbucket, custom: linkCustom }[id];
  return h("button", { type: "button", class: "primary", "data-link": id, onclick: () => open(region) },
    `Link ${name}`);
}

// The provider's page (App install or OAuth consent) comes next; its callback brings the browser back here.
async function authorize(provider, body) {
  const answer = await api.post(`/connections/${provider}/authorize`, body || {});
  location.assign(answer.url);
  return true;
}

async function linkGitHub(region) {
  await guarded(region, () => authorize("github"));
}

// After a link with credentials: the account shows, and GitLab/Bitbucket ask which namespaces the team may use.
async function linked(connection) {
  api.forgetConnections();
  await render(document.getElementById("view"));
  const region = document.querySelector("#view .section-message");
  message(region, `${connectionLabel(connection)} linked.`, "ok");
  if (connection.restrictions && connection.restrictions.confirmed === false) await restrictDialog(connection, region);
}

function choice(name, options) {
  return h("fieldset", {}, h("legend", {}, "How"), options.map(([value, label], index) =>
    field(label, h("input", { type: "radio", name, value, checked: index === 0 }))));
}

function showOnly(form, name) {
  const chosen = form.querySelector(`input[name=${name}]:checked`).value;
  for (const group of form.querySelectorAll("[data-when]")) group.hidden = group.dataset.when !== chosen;
}

function linkForm(title, name, options, groups, submit) {
  const fields = [choice(name, options), ...groups.map(([when, items]) => h("div", { "data-when": when }, items))];
  const promise = formDialog(title, fields, "Link", submit);
  const form = document.querySelector("dialog[open] form");
  form.addEventListener("change", () => showOnly(form, name));
  showOnly(form, name);
  return promise;
}

const value = (form, fieldName) => {
  const node = form.querySelector(`[name=${fieldName}]`);
  return node && !node.closest("[hidden]") ? node.value.trim() : "";
};
const optional = (object) => Object.fromEntries(Object.entries(object).filter(([, v]) => v !== ""));

async function linkGitLab() {
  const done = await linkForm("Link GitLab", "how", [
    ["oauth", "Sign in with gitlab.com (OAuth)"],
    ["oauth-self", "Sign in with a self-hosted GitLab (its own OAuth application)"],
    ["token", "Access token (personal, group or project)"],
  ], [
    ["oauth-self", [field("GitLab URL", input("base_url", { type: "url", placeholder: "https://gitlab.example.com" })),
      field("Application ID", input("client_id")),
      field("Application secret", input("client_secret", { type: "password", autocomplete: "off" }))]],
    ["token", [field("Access token", input("token", { type: "password", autocomplete: "off" })),
      field("GitLab URL", input("base_url_token", { type: "url" }), "Leave empty for gitlab.com")]],
  ], async (form) => {
    const how = form.querySelector("input[name=how]:checked").value;
    if (how === "oauth") return authorize("gitlab");
    if (how === "oauth-self") {
      return authorize("gitlab", { base_url: value(form, "base_url"), client_id: value(form, "client_id"),
        client_secret: value(form, "client_secret") });
    }
    return api.post("/connections", optional({ provider: "gitlab", token: value(form, "token"),
      base_url: value(form, "base_url_token") }));
  });
  if (done && done.id) await linked(done);
}

async function linkBitbucket() {
  const done = await linkForm("Link Bitbucket", "how", [
    ["oauth", "Sign in with Bitbucket (OAuth)"],
    ["api", "API token (with your Atlassian e-mail)"],
    ["access", "Access token (workspace, project or repository)"],
  ], [
    ["api", [field("Workspace", input("workspace")),
      field("Atlassian account e-mail", input("username", { type: "email", autocomplete: "email" })),
      field("API token", input("api_token", { type: "password", autocomplete: "off" }))]],
    ["access", [field("Access token", input("access_token", { type: "password", autocomplete: "off" })),
      field("Workspace", input("access_workspace"), "Bitbucket does not tell a token its workspace: name it")]],
  ], async (form) => {
    const how = form.querySelector("input[name=how]:checked").value;
    if (how === "oauth") return authorize("bitbucket");
    if (how === "api") {
      return api.post("/connections", { provider: "bitbucket", workspace: value(form, "workspace"),
        username: value(form, "username"), api_token: value(form, "api_token") });
    }
    return api.post("/connections", optional({ provider: "bitbucket", access_token: value(form, "access_token"),
      workspace: value(form, "access_workspace") }));
  });
  if (done && done.id) await linked(done);
}

async function linkCustom() {
  const fields = [
    field("Remote URL", input("url", { type: "url", required: true, placeholder: "https://git.example.com/app.git" }),
      "https:// or http:// (smart HTTP)"),
    field("Name", input("name"), "Optional"),
    h("fieldset", {}, h("legend", {}, "Credentials (optional, sent as HTTP Basic auth)"),
      field("Username", input("username", { autocomplete: "off" })),
      field("Token or password", input("secret", { type: "password", autocomplete: "off" }))),
  ];
  const done = await formDialog("Link Custom Git", fields, "Link", (form) => {
    const secret = value(form, "secret");
    const credentials = secret ? optional({ username: value(form, "username"), token: secret }) : undefined;
    return api.post("/connections", optional({ provider: "custom", url: value(form, "url"),
      name: value(form, "name"), credentials: credentials || "" }));
  });
  if (done && done.id) await linked(done);
}

// The OAuth/App callback's outcome, as it came back in the query string.
export async function showOutcome(params, region) {
  const outcome = params.get("outcome");
  if (!outcome) return;
  const provider = providerName(params.get("provider") || "");
  if (outcome === "error") {
    message(region, new Error(`Linking ${provider || "the account"} failed: ${params.get("reason") || "unknown"}`));
    return;
  }
  const words = outcome === "linked" ? "linked" : "updated";
  message(region, `${provider ? `${provider} account` : "Account"} ${words}.`, "ok");
  const id = params.get("connection_id");
  if (id && outcome === "linked") {
    const all = await guarded(region, () => api.connections(true));
    const connection = (all || []).find((c) => c.id === id);
    if (connection && connection.restrictions && connection.restrictions.confirmed === false) {
      await restrictDialog(connection, region);
    }
  }
}

export { dialog };
