// The dashboard's shell: sign-in (the team token), the team, the sections and the callback's outcome.
import * as api from "./api.js";
import { h, put, field, message, select } from "./ui.js";
import * as integrations from "./integrations.js";
import * as repositories from "./repositories.js";
import * as sources from "./sources.js";
import * as builds from "./builds.js";
import * as deliveries from "./deliveries.js";
import * as gitops from "./gitops.js";

const SECTIONS = [
  ["integrations", "Git integrations", integrations], ["repositories", "Repositories", repositories],
  ["sources", "Sources", sources], ["builds", "Builds", builds], ["deliveries", "Deliveries", deliveries],
  ["gitops", "GitOps", gitops],
];

export async function show(name) {
  builds.stop();
  const view = document.getElementById("view");
  for (const button of document.querySelectorAll("#nav button")) {
    if (button.dataset.section === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  message(document.getElementById("page-message"), null);
  sessionStorage.setItem("gitconnect.section", name);
  const [, , module] = SECTIONS.find(([id]) => id === name) || SECTIONS[0];
  // Each opening draws into a container of its own: a section still loading when another is opened draws into a
  // container no longer on the page, never into the new one.
  const container = h("div", { "data-section": name });
  put(view, container);
  await module.render(container);
  if (!view.contains(container)) return;
  const heading = view.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

function signIn(why) {
  const area = h("textarea", { name: "token", rows: 4, required: true, autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "stack signin" }, h("h1", {}, "Sign in"),
    h("p", {}, "Paste your platform team token (the JWT the gitconnect API takes). It stays in this browser tab."),
    field("Team token", area), h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" },
      "Sign in")));
  if (why) message(document.getElementById("page-message"), why);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    api.setToken(area.value);
    start();
  });
  put(document.getElementById("nav"));
  put(document.getElementById("account"));
  put(document.getElementById("view"), form);
}

async function start() {
  if (!api.token()) {
    signIn();
    return;
  }
  if (!api.team()) {
    api.signOut();
    signIn(new Error("This token names no team (its teams claim is empty or unreadable)."));
    return;
  }
  const mine = Object.keys(api.teams());
  const team = select("team", mine.map((t) => [t, `${t} (${api.teams()[t]})`]), api.team(), { id: "team" });
  team.addEventListener("change", () => {
    api.setTeam(team.value);
    api.forgetConnections();
    show(sessionStorage.getItem("gitconnect.section") || "integrations");
  });
  const out = h("button", { type: "button", onclick: () => { api.signOut(); signIn(); } }, "Sign out");
  put(document.getElementById("account"), field("Team", team), out);
  put(document.getElementById("nav"), h("ul", {}, SECTIONS.map(([id, label]) =>
    h("li", {}, h("button", { type: "button", "data-section": id, onclick: () => show(id) }, label)))));
  // The OAuth/App callback comes back with ?outcome=…: shown once, then taken out of the address.
  const params = new URLSearchParams(location.search);
  if (params.get("outcome")) {
    history.replaceState(null, "", location.pathname);
    await show("integrations");
    await integrations.showOutcome(params, document.getElementById("page-message"));
    return;
  }
  await show(sessionStorage.getItem("gitconnect.section") || "integrations");
}

window.addEventListener("gitconnect:unauthorized", (event) => {
  api.signOut();
  signIn(event.detail);
});
// A new #token=… on the open page (a link followed again) signs in with it.
window.addEventListener("hashchange", () => {
  if (!new URLSearchParams(location.hash.replace(/^#/, "")).get("token")) return;
  api.takeTokenFromFragment();
  api.forgetConnections();
  start();
});
api.takeTokenFromFragment();
start();
