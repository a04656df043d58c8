// Small DOM and formatting helpers shared by the views.
import { locale, t } from "./i18n.js";

/** el("div", {class: "x", onclick: fn}, child, "text", ...) */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (v === undefined || v === null || v === false) return;
    if (k === "class") node.className = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  });
  children.flat().forEach((c) => {
    if (c === undefined || c === null || c === false) return;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  });
  return node;
}

// Times are shown in the site's time zone (set from /api/site), whatever the browser's zone.
let timeZone;

export function setTimeZone(zone) {
  timeZone = zone;
}

export function siteTimeZone() {
  return timeZone;
}

export function fmtTime(unix) {
  if (unix === null || unix === undefined) return "—";
  return new Date(unix * 1000).toLocaleTimeString(locale(), { hour12: false, timeZone });
}

export function fmtDateTime(unix) {
  if (unix === null || unix === undefined) return "—";
  return new Date(unix * 1000).toLocaleString(locale(), { hour12: false, timeZone });
}

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  if (h > 0) return `${h}:${String(m).padStart(2, "0")}:${rest}`;
  return m > 0 ? `${m}:${rest}` : `${s} ${t("seconds")}`;
}

/** The download links of an evidence export's files (POST /api/exports answers them). */
export function exportLinks(files) {
  return el("ul", {}, ...files.map((f) => el("li", {},
    el("a", { href: f.url, download: f.name }, f.name),
    ` (${(f.bytes / 1024).toFixed(1)} KiB)`)));
}

/** A role may use a view when it is listed, and admin may use every view. */
export function allowed(role, roles) {
  return role === "admin" || roles.includes(role);
}
