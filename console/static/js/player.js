// A reusable clip player: HTML5 video with play/pause, a seek bar, speed (0.25–4×), frame
// step back/forward, and an SVG overlay of zones (polygons in 0–1 frame coordinates).
//
//   const player = createPlayer({src, zones, fps, start});
//   parent.append(player.element);
//   ...
//   player.destroy();
//
// Keys while the player has focus: Space play/pause, "," / "." one frame back / forward,
// "[" / "]" slower / faster, "z" zones on/off.
import { el, fmtTime } from "./dom.js";
import { addMessages, onLang, t } from "./i18n.js";

addMessages({
  zh: {
    player_play: "播放", player_pause: "暂停", player_frame_back: "上一帧",
    player_frame_forward: "下一帧", player_speed: "倍速", player_zones: "显示区域",
    player_seek: "进度", player_error: "无法播放此录像片段", player_frame: "帧",
    player_keys: "空格 播放/暂停，, . 逐帧，[ ] 调速，z 区域",
  },
  en: {
    player_play: "Play", player_pause: "Pause", player_frame_back: "Frame back",
    player_frame_forward: "Frame forward", player_speed: "Speed", player_zones: "Show zones",
    player_seek: "Position", player_error: "This clip cannot be played", player_frame: "frame",
    player_keys: "Space play/pause, , . frame step, [ ] speed, z zones",
  },
});

export const SPEEDS = [0.25, 0.5, 1, 1.5, 2, 4];
const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
  return node;
}

/** The overlay: one polygon per zone, in the 0–1 box stretched over the picture. */
function zonesOverlay(zones) {
  const root = svg("svg", { class: "player-zones", viewBox: "0 0 1 1", preserveAspectRatio: "none",
    "aria-hidden": "true" });
  zones.forEach((zone) => {
    const poly = svg("polygon", {
      points: zone.polygon.map(([x, y]) => `${x},${y}`).join(" "),
      class: `zone zone-${zone.kind}`, "vector-effect": "non-scaling-stroke",
    });
    const title = svg("title", {});
    title.textContent = `${zone.name || zone.id} (${zone.kind})`;
    poly.append(title);
    root.append(poly);
  });
  return root;
}

/** "m:ss.cc" of a clip position in seconds. */
export function fmtClock(seconds) {
  const s = Number.isFinite(seconds) ? Math.max(0, seconds) : 0;
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(2).padStart(5, "0")}`;
}

/** The position one frame before (-1) or after (+1) `time`, kept inside [0, duration]. */
export function stepTime(time, direction, fps, duration) {
  const frame = 1 / (fps > 0 ? fps : 25);
  const next = Math.round(time / frame + direction) * frame;
  const end = Number.isFinite(duration) ? duration : next;
  return Math.min(Math.max(0, next), end);
}

function nextSpeed(current, direction) {
  const index = SPEEDS.indexOf(current);
  const at = index < 0 ? SPEEDS.indexOf(1) : index;
  return SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, at + direction))];
}

function buildControls() {
  const play = el("button", { type: "button", class: "player-play" }, t("player_play"));
  const back = el("button", { type: "button", class: "player-back", title: "," },
    `‹ ${t("player_frame_back")}`);
  const forward = el("button", { type: "button", class: "player-forward", title: "." },
    `${t("player_frame_forward")} ›`);
  const seek = el("input", { type: "range", class: "player-seek", min: 0, max: 0, step: "any",
    value: 0, "aria-label": t("player_seek") });
  const clock = el("span", { class: "player-clock", "aria-live": "off" }, "0:00.00");
  const speed = el("select", { class: "player-speed", "aria-label": t("player_speed") },
    ...SPEEDS.map((s) => el("option", { value: s, selected: s === 1 }, `${s}×`)));
  const zones = el("input", { type: "checkbox", class: "player-zones-toggle", checked: true });
  const zonesLabel = el("label", { class: "player-zones-label" }, zones,
    el("span", {}, t("player_zones")));
  const bar = el("div", { class: "player-controls" }, play, back, forward, seek, clock,
    el("label", { class: "player-speed-label" }, el("span", {}, t("player_speed")), speed),
    zonesLabel);
  return { bar, play, back, forward, seek, clock, speed, zones, zonesLabel };
}

/**
 * A clip player. `zones`: [{id, name, kind, polygon: [[x, y], ...]}]; `fps` for frame steps;
 * `start`: the clip's wall-clock start (UNIX s) to show the time of day.
 * Returns {element, video, destroy, setZones(visible)}.
 */
export function createPlayer({ src, zones = [], fps = 25, start = null, autoplay = false }) {
  const video = el("video", { class: "player-video", src, preload: "auto", playsinline: true,
    muted: true, autoplay });
  video.muted = true;
  const overlay = zonesOverlay(zones);
  const stage = el("div", { class: "player-stage" }, video, overlay);
  const error = el("p", { class: "error player-error", role: "alert", hidden: true });
  const c = buildControls();
  const hint = el("p", { class: "player-hint" }, t("player_keys"));
  const element = el("div", { class: "player", tabindex: 0, "data-fps": fps }, stage, c.bar,
    error, hint);
  let seeking = false;

  const setZones = (visible) => {
    c.zones.checked = visible;
    overlay.style.display = visible ? "" : "none";
  };
  setZones(zones.length > 0);
  c.zonesLabel.hidden = zones.length === 0;

  const update = () => {
    const now = video.currentTime;
    if (!seeking) c.seek.value = String(now);
    const frame = Math.floor(now * fps + 1e-6);
    const wall = start !== null ? ` · ${fmtTime(start + now)}` : "";
    c.clock.textContent = `${fmtClock(now)} / ${fmtClock(video.duration)} · ${t("player_frame")}`
      + ` ${frame}${wall}`;
    c.play.textContent = video.paused ? t("player_play") : t("player_pause");
  };
  const toggle = () => (video.paused ? video.play().catch(() => {}) : video.pause());
  const step = (direction) => {
    video.pause();
    video.currentTime = stepTime(video.currentTime, direction, fps, video.duration);
  };
  const setSpeed = (value) => {
    video.playbackRate = value;
    c.speed.value = String(value);
  };

  video.addEventListener("loadedmetadata", () => {
    c.seek.max = String(video.duration || 0);
    if (video.videoWidth && video.videoHeight) {
      stage.style.setProperty("--ar", String(video.videoWidth / video.videoHeight));
    }
    update();
  });
  ["timeupdate", "seeked", "play", "pause", "ratechange"].forEach((name) =>
    video.addEventListener(name, update));
  video.addEventListener("error", () => {
    error.hidden = false;
    error.textContent = t("player_error");
  });
  video.addEventListener("click", toggle);
  c.play.addEventListener("click", toggle);
  c.back.addEventListener("click", () => step(-1));
  c.forward.addEventListener("click", () => step(1));
  c.seek.addEventListener("input", () => {
    seeking = true;
    video.currentTime = Number(c.seek.value);
  });
  c.seek.addEventListener("change", () => { seeking = false; });
  c.speed.addEventListener("change", () => setSpeed(Number(c.speed.value)));
  c.zones.addEventListener("change", () => setZones(c.zones.checked));
  element.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const tag = ev.target.tagName;
    const control = tag === "BUTTON" || tag === "SELECT" || tag === "INPUT";
    const actions = {
      " ": () => toggle(), ",": () => step(-1), ".": () => step(1),
      "[": () => setSpeed(nextSpeed(video.playbackRate, -1)),
      "]": () => setSpeed(nextSpeed(video.playbackRate, 1)),
      z: () => zones.length && setZones(!c.zones.checked),
    };
    if (ev.key === " " && control) return; // the control's own activation
    const action = actions[ev.key];
    if (!action) return;
    ev.preventDefault();
    ev.stopPropagation();
    action();
  });
  const stopLang = onLang(() => {
    hint.textContent = t("player_keys");
    c.back.textContent = `‹ ${t("player_frame_back")}`;
    c.forward.textContent = `${t("player_frame_forward")} ›`;
    c.zonesLabel.querySelector("span").textContent = t("player_zones");
    c.speed.parentElement.querySelector("span").textContent = t("player_speed");
    if (!error.hidden) error.textContent = t("player_error");
    update();
  });
  update();

  return {
    element,
    video,
    setZones,
    destroy() {
      stopLang();
      video.pause();
      video.removeAttribute("src");
      video.load();
      element.remove();
    },
  };
}
