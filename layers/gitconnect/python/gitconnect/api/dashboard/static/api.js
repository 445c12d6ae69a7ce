// The API client: the team token (from the URL fragment, kept in sessionStorage), the team, problem+json errors.
const TOKEN_KEY = "gitconnect.token";
const TEAM_KEY = "gitconnect.team";

export class Problem extends Error {
  constructor(status, body) {
    const title = (body && body.title) || `HTTP ${status}`;
    super(body && body.detail ? `${title}: ${body.detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = (body && body.detail) || "";
    this.body = body || {};
  }
}

// `#token=…` (what `make run` prints) is taken once, then removed from the address bar and history.
export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (params.get("team")) sessionStorage.setItem(TEAM_KEY, params.get("team"));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value.trim()); }
export function signOut() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(TEAM_KEY); }

// The token's claims, read only to offer its teams (the API verifies it; the page never trusts it for anything).
export function claims() {
  const value = token();
  if (!value) return null;
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

export function teams() {
  const found = claims();
  return found && found.teams && typeof found.teams === "object" ? found.teams : {};
}

export function team() {
  const mine = teams();
  const chosen = sessionStorage.getItem(TEAM_KEY);
  return chosen && chosen in mine ? chosen : Object.keys(mine)[0] || null;
}

export function setTeam(value) { sessionStorage.setItem(TEAM_KEY, value); }
export function isAdmin() { return teams()[team()] === "admin"; }

// One call of the API; answers the parsed JSON (null for 204) or throws a Problem.
export async function call(method, path, body) {
  const headers = { Accept: "application/json, application/problem+json", Authorization: `Bearer ${token()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new Problem(0, { title: "The API could not be reached", detail: String(error.message || error) });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { title: `HTTP ${response.status}`, detail: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    if (parsed && parsed.message && !parsed.title) parsed = { title: parsed.message }; // API Gateway's own errors
    const problem = new Problem(response.status, parsed);
    // The token expired or is not one the API takes: the page asks for another (main.js).
    if (response.status === 401) window.dispatchEvent(new CustomEvent("gitconnect:unauthorized", { detail: problem }));
    throw problem;
  }
  return parsed;
}

// A path under the current team, with query parameters (empty ones left out).
export function teamPath(rest, query) {
  let path = `/v1/teams/${encodeURIComponent(team())}${rest}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) path += `?${text}`;
  }
  return path;
}

export const get = (rest, query) => call("GET", teamPath(rest, query));
export const post = (rest, body) => call("POST", teamPath(rest), body);
export const put = (rest, body) => call("PUT", teamPath(rest), body);
export const patch = (rest, body) => call("PATCH", teamPath(rest), body);
export const del = (rest) => call("DELETE", teamPath(rest));

// The team's connections, read once per page view and refreshed when one changes.
let connectionsCache = null;
export async function connections(refresh = false) {
  if (refresh || connectionsCache === null) connectionsCache = (await get("/connections")).items;
  return connectionsCache;
}
export function forgetConnections() { connectionsCache = null; }
