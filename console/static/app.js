"use strict";
// Console main page: camera tiles with annotated snapshots, window states and the live
// alarm feed (server-sent events). All data comes from the authenticated JSON API.

const state = { cameras: [], windows: [], events: new Map() };

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  if (res.status === 401) {
    window.location.href = "/login";
    throw new Error("login required");
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function fmtTime(unix) {
  if (unix === null || unix === undefined) return "—";
  return new Date(unix * 1000).toLocaleTimeString(LANG === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}:${String(s % 60).padStart(2, "0")}` : `${s} ${t("seconds")}`;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  });
  children.forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
  return node;
}

function renderCameras() {
  const grid = document.getElementById("cameras");
  state.cameras.forEach((cam) => {
    let tile = document.getElementById(`tile-${cam.id}`);
    if (!tile) {
      tile = el("div", { class: "tile", id: `tile-${cam.id}` },
        el("img", { alt: cam.name, "data-camera": cam.id }),
        el("div", { class: "meta" }));
      grid.append(tile);
    }
    const st = cam.status;
    const meta = tile.querySelector(".meta");
    meta.replaceChildren(
      el("span", {}, `${cam.name} (${cam.id})`),
      el("span", { class: `pill ${st.online ? "ok" : "bad"}` }, t(st.online ? "online" : "offline")),
      el("span", { class: "pill muted" }, `${t("reconnects")} ${st.reconnects}`),
      el("span", { class: "pill muted" }, `${t("persons")} ${cam.live ? cam.live.persons : "—"}`),
      el("span", { class: "pill muted" }, `${t("last_frame")} ${fmtTime(st.last_packet_at)}`),
    );
  });
}

function refreshSnapshots() {
  document.querySelectorAll("img[data-camera]").forEach((img) => {
    const next = new Image();
    next.onload = () => { img.src = next.src; };
    next.src = `/api/cameras/${encodeURIComponent(img.dataset.camera)}/snapshot.jpg?t=${Date.now()}`;
  });
}

function renderWindows() {
  const body = document.querySelector("#windows tbody");
  body.replaceChildren(...state.windows.map((w) => {
    const live = w.live || {};
    const st = live.state || "off_duty";
    const cls = st === "vacant" ? "bad" : st === "staffed" ? "ok" : "muted";
    return el("tr", {},
      el("td", {}, `${w.name} (${w.id})`), el("td", {}, w.department), el("td", {}, w.camera),
      el("td", {}, live.staff ?? "—"), el("td", {}, live.queue ?? "—"),
      el("td", {}, el("span", { class: `pill ${cls}` }, t(`state_${st}`))));
  }));
}

function placeOf(ev) {
  const w = state.windows.find((x) => x.id === ev.window);
  return w ? `${w.name} (${w.department})` : (ev.window || ev.camera);
}

function renderEvents() {
  const list = document.getElementById("events");
  const items = [...state.events.values()].sort((a, b) => b.start - a.start || b.id - a.id);
  if (!items.length) {
    list.replaceChildren(el("li", { class: "closed" }, t("no_events")));
    return;
  }
  list.replaceChildren(...items.slice(0, 200).map((ev) => {
    const ended = ev.end !== null;
    const span = (ended ? ev.end : Date.now() / 1000) - ev.start;
    return el("li", { class: ended ? "closed" : "open", "data-event": ev.id },
      el("div", { class: "title" }, `${t(ev.type)} · ${placeOf(ev)}`),
      el("div", { class: "when" },
        `${t("start")} ${fmtTime(ev.start)} · ${ended ? `${t("end")} ${fmtTime(ev.end)}` : t("ongoing")}`
        + ` · ${t("duration")} ${fmtDuration(span)}`));
  }));
}

function connectStream() {
  const pill = document.getElementById("stream-state");
  const source = new EventSource("/api/events/stream");
  source.addEventListener("open", () => { pill.className = "pill ok"; pill.textContent = t("connected"); });
  source.addEventListener("error", () => { pill.className = "pill bad"; pill.textContent = t("disconnected"); });
  source.addEventListener("event", (msg) => {
    const ev = JSON.parse(msg.data);
    state.events.set(ev.id, ev);
    renderEvents();
  });
}

async function poll() {
  try {
    [state.cameras, state.windows] = await Promise.all([api("/api/cameras"), api("/api/windows")]);
    renderCameras();
    renderWindows();
    renderEvents();
  } catch (err) {
    console.warn(err);
  }
}

async function main() {
  const me = await api("/api/me");
  document.getElementById("user").textContent = `${me.username} (${me.role})`;
  const site = await api("/api/site");
  document.getElementById("site-name").textContent = site.name;
  document.getElementById("notices").replaceChildren(
    ...site.calendar_notices.map((n) => el("div", { class: "notice" }, n)));
  const recent = await api("/api/events?limit=100");
  recent.items.forEach((ev) => state.events.set(ev.id, ev));
  renderEvents();
  connectStream();
  await poll();
  refreshSnapshots();
  setInterval(poll, 2000);
  setInterval(refreshSnapshots, 1000);
  setInterval(renderEvents, 5000);
  document.addEventListener("hw-lang", () => { renderCameras(); renderWindows(); renderEvents(); });
  document.getElementById("logout").addEventListener("click", async (ev) => {
    ev.preventDefault();
    await fetch("/api/logout", { method: "POST" });
    window.location.href = "/login";
  });
}

main();
