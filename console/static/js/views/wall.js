// Live wall (实时监控): a grid of 1/4/9/16 live tiles over WebRTC (the camera's H.264 passed
// through by the server), pages when there are more cameras, one tile full size on double
// click / Enter / F, zones and live counts drawn over the video in SVG, and an automatic
// fallback to a refreshing JPEG snapshot (with a badge saying why) when WebRTC cannot play.
// The live alarm feed sits beside the wall. window.hwLive exposes the peer connections and
// their first-frame times for tests and for a curious operator's console.
import { api, request } from "../api.js";
import { mountAlarmFeed } from "../alarms.js";
import { el, fmtTime } from "../dom.js";
import { addMessages, getLang, onLang, t } from "../i18n.js";

addMessages({
  zh: {
    wall_layout: "画面布局", wall_prev: "上一页", wall_next: "下一页", wall_page: "第 {p} / {n} 页",
    wall_single: "单画面（双击、回车或 F 键；Esc 返回）", wall_back: "返回多画面",
    wall_live: "实时", wall_connecting: "连接中…",
    wall_fb_unavailable: "无法实时播放：{why}，改为快照刷新",
    wall_fb_failed: "WebRTC 无法连接，改为快照刷新",
    wall_fb_noframe: "数秒内未收到视频帧，改为快照刷新",
    wall_fb_busy: "观看人数已满，改为快照刷新",
    wall_fb_error: "实时视频出错，改为快照刷新",
    wall_keys: "快捷键：1/4/9/6 切换 1/4/9/16 画面，PageUp/PageDown 翻页，F 或回车全屏，Esc 返回",
    wall_zone_staff: "工作区", wall_zone_queue: "排队区", wall_zone_customer: "办事区",
    wall_zone_site: "区域",
  },
  en: {
    wall_layout: "Layout", wall_prev: "Previous page", wall_next: "Next page",
    wall_page: "Page {p} of {n}",
    wall_single: "Single view (double click, Enter or F; Esc to go back)",
    wall_back: "Back to the grid", wall_live: "live", wall_connecting: "connecting…",
    wall_fb_unavailable: "No live video: {why}; showing snapshots",
    wall_fb_failed: "WebRTC could not connect; showing snapshots",
    wall_fb_noframe: "No video frame within a few seconds; showing snapshots",
    wall_fb_busy: "Too many live viewers; showing snapshots",
    wall_fb_error: "Live video failed; showing snapshots",
    wall_keys: "Keys: 1/4/9/6 for 1/4/9/16 tiles, PageUp/PageDown for pages, F or Enter for"
      + " full size, Esc to go back",
    wall_zone_staff: "staff", wall_zone_queue: "queue", wall_zone_customer: "counter",
    wall_zone_site: "zone",
  },
});

const LAYOUTS = [1, 4, 9, 16];
const LAYOUT_KEYS = { 1: 1, 4: 4, 9: 9, 6: 16 };
const FIRST_FRAME_TIMEOUT_MS = 6000;
const RETRY_MS = 15000;
const ICE_GATHER_MS = 1500;
const SVG = "http://www.w3.org/2000/svg";

const hwLive = { pcs: {}, timings: {}, sessions: {} };
window.hwLive = hwLive;

function fmt(key, values) {
  return Object.entries(values).reduce((text, [k, v]) => text.replace(`{${k}}`, v), t(key));
}

// --- one tile: a WebRTC player with a snapshot fallback ----------------------------------

class LiveTile {
  constructor(cam, onFocus) {
    this.cam = cam;
    this.pc = null;
    this.session = null;
    this.timers = [];
    this.fallbackWhy = null;
    this.video = el("video", { "data-camera": cam.id, muted: true, autoplay: true,
      playsinline: true, "aria-label": cam.name });
    this.video.muted = true;
    this.img = el("img", { alt: cam.name, "data-camera": cam.id, hidden: true });
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "overlay");
    this.svg.setAttribute("viewBox", "0 0 1 1");
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.setAttribute("aria-hidden", "true");
    this.badge = el("div", { class: "badge", role: "status" });
    this.meta = el("div", { class: "meta" });
    this.node = el("div", {
      class: "tile", id: `tile-${cam.id}`, tabindex: "0", "data-camera": cam.id,
      ondblclick: () => onFocus(cam.id), "aria-label": cam.name,
    }, el("div", { class: "screen" }, this.video, this.img, this.svg, this.badge), this.meta);
    this.update(cam);
  }

  update(cam) {
    this.cam = cam;
    const st = cam.status || {};
    const live = cam.live || {};
    this.meta.replaceChildren(
      el("span", { class: "name" }, `${cam.name} (${cam.id})`),
      el("span", { class: `pill ${st.online ? "ok" : "bad"}` }, t(st.online ? "online" : "offline")),
      el("span", { class: "pill muted" }, `${t("persons")} ${live.persons ?? "—"}`),
      el("span", { class: "pill muted" }, `${t("last_frame")} ${fmtTime(st.last_packet_at)}`),
    );
    drawZones(this.svg, cam);
    this.showBadge();
  }

  showBadge() {
    if (this.fallbackWhy) {
      this.badge.textContent = this.fallbackWhy();
      this.badge.className = "badge fallback";
    } else {
      this.badge.textContent = this.pc && this.firstFrame ? t("wall_live") : t("wall_connecting");
      this.badge.className = `badge ${this.firstFrame ? "live" : ""}`;
    }
  }

  async start() {
    this.firstFrame = false;
    const started = performance.now();
    hwLive.timings[this.cam.id] = { offer_ms: null, first_frame_ms: null };
    try {
      await this.connect(started);
    } catch (err) {
      this.fallback(err.status === 409 ? this.unavailableWhy(err) :
        err.status === 429 ? () => t("wall_fb_busy") : () => t("wall_fb_error"));
      return;
    }
    this.timers.push(setTimeout(() => {
      if (!this.firstFrame) this.fallback(() => t("wall_fb_noframe"));
    }, FIRST_FRAME_TIMEOUT_MS));
  }

  unavailableWhy(err) {
    const message = err.detail && err.detail.plan && err.detail.plan.message;
    return () => fmt("wall_fb_unavailable", { why: message ? message[getLang()] : "?" });
  }

  async connect(started) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    hwLive.pcs[this.cam.id] = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (ev) => { this.video.srcObject = ev.streams[0] || new MediaStream([ev.track]); });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") this.fallback(() => t("wall_fb_failed"));
    });
    this.watchFrames(started);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const offerAt = performance.now();
    const answer = await api(`/api/live/${encodeURIComponent(this.cam.id)}/offer`, {
      method: "POST", body: { sdp: pc.localDescription.sdp, type: "offer" } });
    this.session = answer.session_id;
    hwLive.sessions[this.cam.id] = answer.session_id;
    hwLive.timings[this.cam.id].offer_at = offerAt;
    await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
    this.showBadge();
  }

  watchFrames(started) {
    const seen = () => {
      if (this.firstFrame || !this.pc) return;
      this.firstFrame = true;
      const timing = hwLive.timings[this.cam.id];
      timing.first_frame_ms = performance.now() - (timing.offer_at ?? started);
      this.showBadge();
    };
    if ("requestVideoFrameCallback" in this.video) this.video.requestVideoFrameCallback(seen);
    else this.video.addEventListener("loadeddata", seen, { once: true });
  }

  fallback(why) {
    if (this.fallbackWhy) return;
    this.fallbackWhy = why;
    this.stopLive();
    this.video.hidden = true;
    this.img.hidden = false;
    const refresh = () => refreshSnapshot(this.img);
    refresh();
    this.timers.push(setInterval(refresh, 1000));
    this.timers.push(setTimeout(() => this.retry(), RETRY_MS));
    this.showBadge();
  }

  retry() {
    this.timers.forEach((id) => { clearInterval(id); clearTimeout(id); });
    this.timers = [];
    this.fallbackWhy = null;
    this.video.hidden = false;
    this.img.hidden = true;
    this.start();
  }

  stopLive() {
    if (this.pc) this.pc.close();
    if (this.session) {
      request(`/api/live/sessions/${encodeURIComponent(this.session)}`, { method: "DELETE" })
        .catch(() => {});
    }
    if (hwLive.pcs[this.cam.id] === this.pc) delete hwLive.pcs[this.cam.id];
    this.pc = null;
    this.session = null;
  }

  stop() {
    this.timers.forEach((id) => { clearInterval(id); clearTimeout(id); });
    this.timers = [];
    this.stopLive();
  }
}

/** Resolve once ICE gathering is complete (aiortc takes no trickled candidates). */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHER_MS);
  });
}

function refreshSnapshot(img) {
  const next = new Image();
  next.onload = () => { img.src = next.src; };
  next.src = `/api/cameras/${encodeURIComponent(img.dataset.camera)}/snapshot.jpg?t=${Date.now()}`;
}

// --- overlays: zones and live counts, drawn from the camera's metadata ---------------------

function zoneCount(cam, zone) {
  const live = cam.live || {};
  if (zone.kind === "staff") return live.windows?.[zone.id]?.staff;
  if (zone.kind === "queue") return (live.queues?.[zone.id] ?? live.windows?.[zone.id])?.queue;
  if (zone.kind === "site") return live.zones?.[zone.id]?.persons;
  return undefined;
}

function drawZones(svg, cam) {
  const shapes = (cam.zones || []).flatMap((zone) => {
    const points = zone.polygon.map(([x, y]) => `${x},${y}`).join(" ");
    const poly = document.createElementNS(SVG, "polygon");
    poly.setAttribute("points", points);
    poly.setAttribute("class", `zone zone-${zone.kind}`);
    const label = document.createElementNS(SVG, "text");
    const [x, y] = zone.polygon[0];
    label.setAttribute("x", x + 0.005);
    label.setAttribute("y", Math.max(0.03, y - 0.01));
    label.setAttribute("class", `zone-label zone-${zone.kind}`);
    const count = zoneCount(cam, zone);
    label.textContent = `${zone.name} ${t(`wall_zone_${zone.kind}`)}${count === undefined ? "" : ` ${count}`}`;
    return [poly, label];
  });
  svg.replaceChildren(...shapes);
}

// --- the wall: layout, pages, single view ----------------------------------------------

class Wall {
  constructor(grid, controls, cameras) {
    this.grid = grid;
    this.controls = controls;
    this.cameras = cameras;
    this.tiles = new Map();
    this.layout = Number(localStorage.getItem("hw_wall_layout")) || 4;
    this.page = 0;
    this.single = null;
  }

  pages() {
    return Math.max(1, Math.ceil(this.cameras.length / this.layout));
  }

  shown() {
    if (this.single) return this.cameras.filter((c) => c.id === this.single);
    return this.cameras.slice(this.page * this.layout, (this.page + 1) * this.layout);
  }

  render() {
    const shown = this.shown();
    const ids = new Set(shown.map((c) => c.id));
    for (const [id, tile] of this.tiles) {
      if (!ids.has(id)) { tile.stop(); this.tiles.delete(id); }
    }
    const cols = this.single ? 1 : Math.sqrt(this.layout);
    this.grid.style.setProperty("--cols", cols);
    this.grid.classList.toggle("single", Boolean(this.single));
    this.grid.replaceChildren(...shown.map((cam) => {
      let tile = this.tiles.get(cam.id);
      if (!tile) {
        tile = new LiveTile(cam, (id) => this.toggleSingle(id));
        this.tiles.set(cam.id, tile);
        tile.start();
      }
      return tile.node;
    }));
    this.renderControls();
  }

  renderControls() {
    const pages = this.pages();
    this.controls.replaceChildren(...[
      el("span", { class: "label" }, t("wall_layout")),
      ...LAYOUTS.map((n) => el("button", {
        type: "button", class: "layout", "data-layout": n, "aria-pressed": String(n === this.layout && !this.single),
        onclick: () => this.setLayout(n), title: `${n}`,
      }, `${n}`)),
      el("button", { type: "button", id: "wall-prev", onclick: () => this.turn(-1),
        disabled: this.page === 0 || this.single ? true : null, title: "PageUp" }, t("wall_prev")),
      el("span", { id: "wall-page" }, fmt("wall_page", { p: this.page + 1, n: pages })),
      el("button", { type: "button", id: "wall-next", onclick: () => this.turn(1),
        disabled: this.page >= pages - 1 || this.single ? true : null, title: "PageDown" }, t("wall_next")),
      this.single ? el("button", { type: "button", id: "wall-back",
        onclick: () => this.toggleSingle(null) }, t("wall_back")) : null,
      el("span", { class: "keys muted" }, t("wall_keys")),
    ].filter(Boolean));
  }

  setLayout(n) {
    const first = this.page * this.layout;
    this.layout = n;
    localStorage.setItem("hw_wall_layout", String(n));
    this.single = null;
    this.page = Math.floor(first / n);
    this.render();
  }

  turn(step) {
    this.page = Math.min(this.pages() - 1, Math.max(0, this.page + step));
    this.render();
  }

  toggleSingle(id) {
    const back = this.single;
    this.single = this.single === id ? null : id;
    this.render();
    const target = this.single || back;
    if (target) this.tiles.get(target)?.node.focus();
  }

  focusCamera(id) {
    const index = this.cameras.findIndex((c) => c.id === id);
    if (index < 0) return;
    if (this.single && this.single !== id) this.single = id;
    else if (!this.single) this.page = Math.floor(index / this.layout);
    this.render();
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.node.classList.add("highlight");
    tile.node.focus();
    setTimeout(() => tile.node.classList.remove("highlight"), 4000);
  }

  key(ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.target.closest && ev.target.closest("input, textarea, select")) return;
    const tile = ev.target.closest && ev.target.closest(".tile");
    if (LAYOUT_KEYS[ev.key]) this.setLayout(LAYOUT_KEYS[ev.key]);
    else if (ev.key === "PageDown") this.turn(1);
    else if (ev.key === "PageUp") this.turn(-1);
    else if ((ev.key === "Enter" || ev.key === "f" || ev.key === "F") && tile) this.toggleSingle(tile.dataset.camera);
    else if (ev.key === "Escape" && this.single) this.toggleSingle(null);
    else return;
    ev.preventDefault();
  }

  update(cameras) {
    this.cameras = cameras;
    cameras.forEach((cam) => this.tiles.get(cam.id)?.update(cam));
  }

  stop() {
    this.tiles.forEach((tile) => tile.stop());
    this.tiles.clear();
  }
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
  const grid = el("div", { id: "cameras", class: "grid wall-grid" });
  const controls = el("div", { class: "wall-controls", role: "toolbar", "aria-label": "layout" });
  const body = el("tbody");
  const aside = el("aside", { class: "feed" });
  root.classList.add("with-feed");
  root.append(
    el("section", { class: "wall" },
      el("h2", { "data-i18n": "cameras" }, t("cameras")), controls, grid,
      el("h2", { "data-i18n": "windows" }, t("windows")),
      el("table", { id: "windows", class: "table" },
        el("thead", {}, el("tr", {},
          ...["window", "department", "camera", "staff", "queue"].map(
            (k) => el("th", { "data-i18n": k }, t(k))), el("th"))),
        body)),
    aside);
  const stopFeed = await mountAlarmFeed(aside, ctx);
  const state = { windows: [] };
  const wall = new Wall(grid, controls, await api("/api/cameras"));
  wall.render();
  async function poll() {
    try {
      const [cameras, windows] = await Promise.all([api("/api/cameras"), api("/api/windows")]);
      state.windows = windows;
      wall.update(cameras);
      renderWindows(body, windows);
    } catch (err) {
      console.warn(err);
    }
  }
  await poll();
  if (ctx.params.get("camera")) wall.focusCamera(ctx.params.get("camera"));
  const onKey = (ev) => wall.key(ev);
  document.addEventListener("keydown", onKey);
  const stops = [
    stopFeed,
    ctx.bus.on("focus-camera", ({ camera }) => wall.focusCamera(camera)),
    onLang(() => { wall.update(wall.cameras); wall.renderControls(); renderWindows(body, state.windows); }),
  ];
  const timer = setInterval(poll, 2000);
  return () => {
    clearInterval(timer);
    document.removeEventListener("keydown", onKey);
    stops.forEach((stop) => stop());
    wall.stop();
  };
}
