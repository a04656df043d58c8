// The console shell: who is logged in, the navigation (by role), a hash router that loads one
// view module at a time, and one server-sent event stream shared by every view.
import { api, request } from "./api.js";
import { allowed, el, setTimeZone } from "./dom.js";
import { applyI18n, bindLangToggle, fill, onLang, t } from "./i18n.js";

// The views, in menu order. A view module's default export is
// `mount(root, ctx)`, which may return a cleanup function (called when the view is left).
const VIEWS = [
  { id: "wall", roles: ["operator"] },
  { id: "review", roles: ["inspector"] },
  { id: "cases", roles: ["inspector", "operator"] },
  { id: "playback", roles: ["operator", "inspector"] },
  { id: "dashboard", roles: ["operator", "inspector", "auditor"] },
  { id: "admin", roles: [] },
  { id: "users", roles: [] },
  { id: "audit", roles: ["auditor"] },
  { id: "relay", roles: ["operator"] },
];

/** One EventSource for the page; views subscribe to stored events (new and changed). */
class EventHub {
  constructor() {
    this.listeners = new Set();
    this.source = null;
  }

  start() {
    const pill = document.getElementById("stream-state");
    this.source = new EventSource("/api/events/stream");
    this.source.addEventListener("open", () => {
      pill.className = "pill ok";
      pill.dataset.i18n = "connected";
      pill.textContent = t("connected");
    });
    this.source.addEventListener("error", () => {
      pill.className = "pill bad";
      pill.dataset.i18n = "disconnected";
      pill.textContent = t("disconnected");
    });
    this.source.addEventListener("event", (msg) => {
      const event = JSON.parse(msg.data);
      this.listeners.forEach((fn) => fn(event));
    });
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/** Views talk to each other through named messages, e.g. "focus-camera" {camera, event}. */
class Bus extends EventTarget {
  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  on(name, fn) {
    const handler = (ev) => fn(ev.detail);
    this.addEventListener(name, handler);
    return () => this.removeEventListener(name, handler);
  }
}

const shell = { me: null, site: null, events: new EventHub(), bus: new Bus(), cleanup: null };

function visibleViews() {
  return VIEWS.filter((view) => allowed(shell.me.role, view.roles));
}

function renderNav(active) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...visibleViews().map((view, i) => el("a", {
    href: `#/${view.id}`, id: `nav-${view.id}`, "data-i18n": `nav_${view.id}`,
    class: view.id === active ? "active" : "", "aria-current": view.id === active ? "page" : null,
    title: `Alt+${i + 1}`,
  }, t(`nav_${view.id}`))));
}

function parseHash() {
  const [pathPart, query] = window.location.hash.replace(/^#\/?/, "").split("?");
  const [id, ...rest] = pathPart.split("/");
  return { id, path: rest.filter(Boolean), params: new URLSearchParams(query || "") };
}

async function route() {
  const { id, path, params } = parseHash();
  const views = visibleViews();
  const view = views.find((v) => v.id === id) || views[0];
  if (!view) {
    document.getElementById("view").replaceChildren(el("p", { class: "error" }, t("forbidden")));
    return;
  }
  if (view.id !== id) {
    window.location.hash = `#/${view.id}`;
    return;
  }
  if (shell.cleanup) shell.cleanup();
  shell.cleanup = null;
  renderNav(view.id);
  const root = el("div", { class: `view view-${view.id}`, id: `view-${view.id}` });
  document.getElementById("view").replaceChildren(root);
  try {
    const module = await import(`./views/${view.id}.js`);
    const cleanup = await module.default(root, { ...shell, path, params });
    shell.cleanup = typeof cleanup === "function" ? cleanup : null;
    applyI18n(root);
  } catch (err) {
    console.error(err);
    root.replaceChildren(el("p", { class: "error" }, `${t("error")}: ${err.message}`));
  }
}

function keyboard(ev) {
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const n = Number(ev.key);
  const views = visibleViews();
  if (n >= 1 && n <= views.length) {
    ev.preventDefault();
    window.location.hash = `#/${views[n - 1].id}`;
  }
}

/** Years whose holiday calendar is unknown, said in the current language. */
function showNotices() {
  document.getElementById("notices").replaceChildren(...shell.site.calendar_gaps.map(
    (year) => el("div", { class: "notice", role: "status" }, fill(t("calendar_gap"), { year }))));
}

async function main() {
  bindLangToggle();
  shell.me = await api("/api/me");
  document.getElementById("user").textContent =
    `${shell.me.username} (${t(`role_${shell.me.role}`)})`;
  onLang(() => {
    document.getElementById("user").textContent =
      `${shell.me.username} (${t(`role_${shell.me.role}`)})`;
  });
  shell.site = await api("/api/site");
  if (shell.site.timezone) setTimeZone(shell.site.timezone);
  document.getElementById("site-name").textContent = shell.site.name;
  showNotices();
  onLang(showNotices);
  if (shell.me.role !== "auditor") shell.events.start();
  document.getElementById("logout").addEventListener("click", async (ev) => {
    ev.preventDefault();
    await request("/api/logout", { method: "POST" });
    window.location.href = "/login";
  });
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", keyboard);
  await route();
}

main();
