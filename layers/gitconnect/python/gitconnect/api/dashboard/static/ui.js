// DOM helpers: elements from data (text is always text, never HTML), messages, dialogs, labelled fields.
import { Problem } from "./api.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replaces a node's children, leaving out the absent ones (null, undefined, false), as h() does.
export function put(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

let serial = 0;
export const uid = (prefix) => `${prefix}-${++serial}`;

// A labelled control: `field("Branches", input)`; the label points at the control.
export function field(label, control, hint) {
  if (!control.id) control.id = uid("f");
  const hintNode = hint ? h("small", { id: `${control.id}-hint`, class: "hint" }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  const wrapper = control.type === "checkbox" || control.type === "radio" ? "check" : "field";
  return h("div", { class: wrapper }, h("label", { for: control.id }, label), control, hintNode);
}

export const input = (name, attrs = {}) => h("input", { name, type: "text", ...attrs });
export const checkbox = (name, checked, attrs = {}) => h("input", { name, type: "checkbox", checked, ...attrs });
export function select(name, options, value, attrs = {}) {
  return h("select", { name, ...attrs },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

export const list = (text) => (text || "").split(",").map((s) => s.trim()).filter(Boolean);

// A message in a region (role=status, or role=alert for errors): a problem shows its title and detail.
export function message(region, what, kind = "info") {
  region.replaceChildren();
  if (!what) return;
  const error = what instanceof Error;
  const node = h("div", { class: `message ${error ? "error" : kind}`, role: error ? "alert" : "status" });
  if (what instanceof Problem) {
    node.append(h("strong", { class: "problem-title" }, what.title));
    if (what.detail) node.append(" ", h("span", { class: "problem-detail" }, what.detail));
  } else {
    node.append(error ? String(what.message || what) : what);
  }
  region.append(node);
}

// Runs `action`, shows its error in `region` (or the page's), and disables `button` meanwhile.
export async function guarded(region, action, button) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    message(region || document.getElementById("page-message"), error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// A modal dialog (native <dialog>: focus is trapped, Escape closes). `body(close)` builds its content.
export function dialog(title, body) {
  const titleId = uid("dlg");
  const node = h("dialog", { "aria-labelledby": titleId });
  const close = (value) => { node.close(); node.remove(); resolveIt(value); };
  let resolveIt;
  const done = new Promise((resolve) => { resolveIt = resolve; });
  node.addEventListener("cancel", (event) => { event.preventDefault(); close(undefined); });
  node.append(h("h2", { id: titleId }, title), body(close));
  document.body.append(node);
  node.showModal();
  return done;
}

// "Are you sure": resolves true only when the person confirms.
export function confirmDialog(title, text, confirmLabel) {
  return dialog(title, (close) => h("div", {},
    h("p", {}, text),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "danger", onclick: () => close(true) }, confirmLabel),
      h("button", { type: "button", onclick: () => close(false) }, "Cancel"))));
}

// A form in a dialog: `submit(form)` returning normally closes it; a thrown problem is shown in the dialog.
export function formDialog(title, fields, submitLabel, submit) {
  return dialog(title, (close) => {
    const region = h("div", { class: "dialog-message" });
    const form = h("form", {}, fields, region, h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, submitLabel),
      h("button", { type: "button", onclick: () => close(undefined) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const result = await guarded(region, () => submit(form), button);
      if (result !== undefined) close(result);
    });
    return form;
  });
}

// A table; on a phone each row becomes a card whose cells say their column (data-label, see style.css).
export function table(headers, rows, caption) {
  for (const row of rows) {
    [...row.children].forEach((cell, index) => cell.setAttribute("data-label", headers[index] || ""));
  }
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows)));
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
export const badge = (text) => h("span", { class: `badge s-${String(text).replace(/[^a-z_]/gi, "")}` }, text);
