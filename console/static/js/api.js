// The authenticated JSON API. Every state-changing request carries the CSRF token (the
// double-submit cookie `hw_csrf`, set at login) in the X-CSRF-Token header; a 401 sends the
// browser to the login page; other errors raise ApiError with FastAPI's field-level details.

import { problemText } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail; // a string, or FastAPI's list of {loc, msg, type}
  }

  /** One line per problem, "field: message", for showing next to a form. */
  lines() {
    if (!Array.isArray(this.detail)) return [this.message];
    return this.detail.map((p) => `${(p.loc || []).slice(1).join(".") || "?"}: ${problemText(p)}`);
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)hw_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  Object.entries(query).forEach(([k, v]) => {
    if (v !== undefined && v !== null && v !== "") params.append(k, String(v));
  });
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

/** fetch() with the session cookie and CSRF header; returns the raw Response (any status). */
export async function request(path, { method = "GET", body, query, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { ...headers } };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(withQuery(path, query), init);
  if (res.status === 401 && !path.startsWith("/api/login")) {
    window.location.href = "/login";
    throw new ApiError(401, "login required");
  }
  return res;
}

/** A JSON API call: the decoded answer, or ApiError. */
export async function api(path, options = {}) {
  const res = await request(path, options);
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new ApiError(res.status, data.detail ?? `HTTP ${res.status}`);
  }
  if (res.status === 204) return null;
  return res.json();
}
