// Live wall (实时监控): camera tiles with annotated snapshots, window states, and the live
// alarm feed beside them. All data comes from the authenticated JSON API.
import { api } from "../api.js";
import { mountAlarmFeed } from "../alarms.js";
import { el, fmtTime } from "../dom.js";
import { onLang, t } from "../i18n.js";

function renderCameras(grid, cameras) {
  cameras.forEach((cam) => {
    let tile = document.getElementById(`tile-${cam.id}`);
    if (!tile) {
      tile = el("div", { class: "tile", id: `tile-${cam.id}` },
        el("img", { alt: cam.name, "data-camera": cam.id }),
        el("div", { class: "meta" }));
      grid.append(tile);
    }
    const st = cam.status;
    tile.querySelector(".meta").replaceChildren(
      el("span", {}, `${cam.name} (${cam.id})`),
      el("span", { class: `pill ${st.online ? "ok" : "bad"}` }, t(st.online ? "online" : "offline")),
      el("span", { class: "pill muted" }, `${t("reconnects")} ${st.reconnects}`),
      el("span", { class: "pill muted" }, `${t("persons")} ${cam.live ? cam.live.persons : "—"}`),
      el("span", { class: "pill muted" }, `${t("last_frame")} ${fmtTime(st.last_packet_at)}`),
    );
  });
}

function refreshSnapshots(root) {
  root.querySelectorAll("img[data-camera]").forEach((img) => {
    const next = new Image();
    next.onload = () => { img.src = next.src; };
    next.src = `/api/cameras/${encodeURIComponent(img.dataset.camera)}/snapshot.jpg?t=${Date.now()}`;
  });
}

function renderWindows(body, windows) {
  body.replaceChildren(...windows.map((w) => {
    const live = w.live || {};
    const st = live.state || "off_duty";
    const cls = st === "vacant" ? "bad" : st === "staffed" ? "ok" : "muted";
    return el("tr", {},
      el("td", {}, `${w.name} (${w.id})`), el("td", {}, w.department), el("td", {}, w.camera),
      el("td", {}, live.staff ?? "—"), el("td", {}, live.queue ?? "—"),
      el("td", {}, el("span", { class: `pill ${cls}` }, t(`state_${st}`))));
  }));
}

export default async function mount(root, ctx) {
  const grid = el("div", { id: "cameras", class: "grid" });
  const body = el("tbody");
  const aside = el("aside", { class: "feed" });
  root.classList.add("with-feed");
  root.append(
    el("section", { class: "wall" },
      el("h2", { "data-i18n": "cameras" }, t("cameras")), grid,
      el("h2", { "data-i18n": "windows" }, t("windows")),
      el("table", { id: "windows", class: "table" },
        el("thead", {}, el("tr", {},
          ...["window", "department", "camera", "staff", "queue"].map(
            (k) => el("th", { "data-i18n": k }, t(k))), el("th"))),
        body)),
    aside);
  const state = { cameras: [], windows: [] };
  const stopFeed = await mountAlarmFeed(aside, ctx);
  async function poll() {
    try {
      [state.cameras, state.windows] = await Promise.all([api("/api/cameras"), api("/api/windows")]);
      renderCameras(grid, state.cameras);
      renderWindows(body, state.windows);
    } catch (err) {
      console.warn(err);
    }
  }
  await poll();
  refreshSnapshots(root);
  const timers = [setInterval(poll, 2000), setInterval(() => refreshSnapshots(root), 1000)];
  const stopLang = onLang(() => { renderCameras(grid, state.cameras); renderWindows(body, state.windows); });
  return () => {
    timers.forEach(clearInterval);
    stopLang();
    stopFeed();
  };
}
