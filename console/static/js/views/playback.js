// Playback (录像回放): `#/playback/?camera=cam01&t=<unix>`. A day's timeline per camera (SVG)
// with the recorded segments, the camera's outages (gaps) and its events as coloured marks;
// click plays that instant (the segment holding it, seeked, then on into the next segment);
// shift-click (or [ and ] at the cursor) selects a range that inspectors can download as an
// evidence export (POST /api/exports, audited by the server).
// Keys: ←/→ move 10 s (Shift: 60 s), + / - zoom (day, 6 h, 2 h, 1 h, 15 min), [ ] range.
// Days are the site's: the day picker, the day's bounds (00:00–24:00, 23 or 25 h where the
// clocks change) and the ticks follow the site's time zone, whatever the browser's zone.
import { api } from "../api.js";
import { allowed, el, exportLinks, fmtDateTime, fmtTime, siteTimeZone } from "../dom.js";
import { addMessages, t } from "../i18n.js";

addMessages({
  zh: {
    playback_title: "录像回放", playback_camera: "摄像机", playback_day: "日期",
    playback_zoom_in: "放大", playback_zoom_out: "缩小", playback_span: "显示范围",
    playback_help: "点击时间轴播放该时刻；Shift+点击选择区间；←/→ 移动 10 秒；+/- 缩放；[ ] 设定区间起止",
    playback_timeline: "录像时间轴", playback_no_recording: "该时刻没有录像",
    playback_next: "该时刻没有录像，从下一段录像 {t} 开始播放",
    playback_selection: "选择区间", playback_none: "未选择（Shift+点击时间轴）",
    playback_download: "下载所选区间", playback_too_long: "一次最多导出 1 小时",
    playback_exporting: "正在导出…", playback_export_done: "导出完成：",
    playback_clear: "清除选择", playback_legend_segment: "有录像", playback_legend_gap: "摄像机中断",
    playback_legend_event: "事件", playback_playing: "正在播放", playback_segments: "段录像",
    playback_gaps: "次中断", playback_events: "个事件",
  },
  en: {
    playback_title: "Playback", playback_camera: "Camera", playback_day: "Day",
    playback_zoom_in: "Zoom in", playback_zoom_out: "Zoom out", playback_span: "Span",
    playback_help: "Click the timeline to play that moment; Shift+click selects a range; ←/→ move 10 s; +/- zoom; [ ] set the range",
    playback_timeline: "Recording timeline", playback_no_recording: "No recording at that moment",
    playback_next: "No recording at that moment; playing the next recording from {t}",
    playback_selection: "Range", playback_none: "none (Shift+click the timeline)",
    playback_download: "Download range", playback_too_long: "At most 1 hour per export",
    playback_exporting: "Exporting…", playback_export_done: "Export ready:",
    playback_clear: "Clear range", playback_legend_segment: "recorded", playback_legend_gap: "camera outage",
    playback_legend_event: "event", playback_playing: "Playing", playback_segments: "segments",
    playback_gaps: "outages", playback_events: "events",
  },
});

const ZOOMS = [86400, 21600, 7200, 3600, 900];
const STEP_S = 10;
const MAX_EXPORT_S = 3600;
const REFRESH_MS = 10_000;
const VB_W = 1000;
const VB_H = 84;
const TRACK = { y: 20, h: 34 };
const MARK = { y: 58, h: 12 };
const SVG = "http://www.w3.org/2000/svg";
export const EVENT_COLORS = {
  counter_vacant: "#ff5a5a", queue_buildup: "#ffb020", long_wait: "#ffd479",
  intrusion: "#b48cff", overcrowded: "#ff8ad8", case_warning: "#ffd479",
  case_yellow: "#ffb020", case_red: "#ff5a5a",
};

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
  children.forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
  return node;
}

// --- calendar days in a time zone (pure; Intl only) --------------------------------------------

const FORMATS = new Map();

function wallClock(unix, zone) {
  if (!FORMATS.has(zone)) {
    FORMATS.set(zone, new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit" }));
  }
  const parts = {};
  FORMATS.get(zone).formatToParts(new Date(Math.floor(unix) * 1000)).forEach((p) => {
    parts[p.type] = p.value;
  });
  return parts;
}

/** The date ("YYYY-MM-DD") that the clocks of `zone` show at `unix` seconds. */
export function dateIn(unix, zone) {
  const p = wallClock(unix, zone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Seconds that the clocks of `zone` are ahead of UTC at `unix`. */
export function offsetAt(unix, zone) {
  const p = wallClock(unix, zone);
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24,
    Number(p.minute), Number(p.second)) / 1000;
  return wall - Math.floor(unix);
}

function utcMidnight(text) {
  const [y, m, d] = text.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / 1000;
}

/** The first instant (unix seconds) of the date `text` in `zone`: its 00:00, or the end of a
 * clock change that skips midnight. */
function dayStartIn(text, zone) {
  const wall = utcMidnight(text);
  // midnight under each offset in force within a day of it: one of them is the day's start
  const candidates = [-86400, 0, 86400].map((s) => wall - offsetAt(wall + s, zone));
  const inDay = candidates.filter((c) => dateIn(c, zone) === text);
  return inDay.length ? Math.min(...inDay) : candidates[1];
}

/** [start, end) of the date `text` ("YYYY-MM-DD") in `zone` as unix seconds; 23 or 25 hours
 * long on the days the clocks change. */
export function dayBounds(text, zone) {
  const next = new Date((utcMidnight(text) + 86400) * 1000).toISOString().slice(0, 10);
  return [dayStartIn(text, zone), dayStartIn(next, zone)];
}

/** The instant when the clocks of `zone` show `seconds` past midnight on the date `text`. */
export function wallTimeIn(text, seconds, zone) {
  const wall = utcMidnight(text) + seconds;
  return wall - offsetAt(wall - offsetAt(wall, zone), zone);
}

// --- timeline geometry ---------------------------------------------------------------------------

/** The view [from, to) of `span` seconds around `center`, kept inside the day [day, dayEnd). */
export function viewAround(center, span, day, dayEnd) {
  const width = Math.min(span, dayEnd - day);
  const from = Math.min(Math.max(center - width / 2, day), dayEnd - width);
  return [from, from + width];
}

function tickStep(span) {
  return [[900, 60], [3600, 300], [7200, 900], [21600, 3600], [90000, 7200]].find(([s]) => span <= s)[1];
}

/** The first tick at or after `from` on the site's clock (whole steps of local time). */
function firstTick(from, step, zone) {
  const offset = offsetAt(from, zone);
  return Math.ceil((from + offset) / step) * step - offset;
}

export default async function mount(root, ctx) {
  const cameras = await api("/api/cameras");
  const zone = siteTimeZone() || Intl.DateTimeFormat().resolvedOptions().timeZone;
  const now = Date.now() / 1000;
  const asked = Number(ctx.params.get("t"));
  const st = {
    camera: ctx.params.get("camera") || (cameras[0] && cameras[0].id),
    cursor: Number.isFinite(asked) && asked > 0 ? asked : now,
    zoom: 0, selection: null, data: { segments: [], gaps: [], events: [] }, current: null,
  };
  function setDay(text) {
    st.dayText = text;
    [st.day, st.dayEnd] = dayBounds(text, zone);
  }
  // the zoom's span (the whole day, 23-25 h, at the outermost) around the cursor, in the day
  function frame() {
    const span = st.zoom === 0 ? st.dayEnd - st.day : ZOOMS[st.zoom];
    [st.from, st.to] = viewAround(st.cursor, span, st.day, st.dayEnd);
  }
  setDay(dateIn(st.cursor, zone));
  frame();
  const mayExport = allowed(ctx.me.role, ["inspector"]);

  const cameraSelect = el("select", { id: "playback-camera" }, cameras.map((c) => el("option",
    { value: c.id, selected: c.id === st.camera }, `${c.name} (${c.id})`)));
  const dayInput = el("input", { type: "date", id: "playback-day", value: st.dayText,
    title: zone });
  const timeline = svg("svg", { viewBox: `0 0 ${VB_W} ${VB_H}`, id: "playback-timeline",
    class: "timeline", tabindex: 0, role: "slider", "aria-label": t("playback_timeline") });
  const video = el("video", { id: "playback-video", controls: true, muted: true, playsinline: true });
  const status = el("p", { class: "muted", id: "playback-status", role: "status" });
  const summary = el("span", { class: "muted", id: "playback-summary" });
  const selectionText = el("span", { id: "playback-selection" });
  const exportBox = el("div", { id: "playback-export", class: "export-result" });
  const downloadBtn = el("button", { type: "button", id: "playback-download", disabled: true,
    "data-i18n": "playback_download", onclick: () => exportRange() }, t("playback_download"));
  const spanText = el("span", { id: "playback-span", class: "muted" });

  function closed() {
    return st.data.segments.filter((s) => s.url).sort((a, b) => a.start - b.start);
  }

  function xOf(time) {
    return ((time - st.from) / (st.to - st.from)) * VB_W;
  }

  function band(start, end, cls, extra = {}) {
    const a = Math.max(xOf(start), 0);
    const b = Math.min(xOf(end ?? now), VB_W);
    if (b <= 0 || a >= VB_W) return null;
    return svg("rect", { x: a, width: Math.max(b - a, 1), class: cls, ...extra });
  }

  function ticks() {
    const step = tickStep(st.to - st.from);
    const out = [];
    for (let time = firstTick(st.from, step, zone); time <= st.to; time += step) {
      const x = xOf(time);
      out.push(svg("line", { x1: x, x2: x, y1: 12, y2: VB_H, class: "tick-line" }));
      out.push(svg("text", { x: x + 2, y: 10, class: "tick" }, fmtTime(time).slice(0, 5)));
    }
    return out;
  }

  function draw() {
    const parts = [svg("rect", { x: 0, y: TRACK.y, width: VB_W, height: TRACK.h, class: "track" }), ...ticks()];
    st.data.segments.forEach((s) => {
      const r = band(s.start, s.end, `segment${s.url ? "" : " open"}`,
        { y: TRACK.y, height: TRACK.h, "data-segment": s.id });
      if (r) parts.push(r);
    });
    st.data.gaps.forEach((g) => {
      const r = band(g.start, g.end, "gap", { y: TRACK.y, height: TRACK.h });
      if (r) { r.append(svg("title", {}, `${t("playback_legend_gap")} ${fmtTime(g.start)}–${fmtTime(g.end ?? now)}`)); parts.push(r); }
    });
    st.data.events.forEach((e) => {
      const r = band(e.start, e.end ?? Math.max(e.start + 1, now), "mark",
        { y: MARK.y, height: MARK.h, fill: EVENT_COLORS[e.type] || "#8b9bb0", "data-event": e.id,
          "data-type": e.type });
      if (r) { r.append(svg("title", {}, `${t(e.type)} ${fmtDateTime(e.start)}`)); parts.push(r); }
    });
    if (st.selection) {
      const r = band(st.selection.from, st.selection.to, "selection", { y: 12, height: VB_H - 12 });
      if (r) parts.push(r);
    }
    const x = xOf(st.cursor);
    parts.push(svg("line", { x1: x, x2: x, y1: 12, y2: VB_H, class: "cursor", id: "playback-cursor" }));
    timeline.replaceChildren(...parts);
    timeline.setAttribute("aria-valuetext", fmtDateTime(st.cursor));
    summary.textContent = `${st.data.segments.length} ${t("playback_segments")} · ${st.data.gaps.length} ${t("playback_gaps")} · ${st.data.events.length} ${t("playback_events")}`;
    spanText.textContent = `${t("playback_span")}: ${fmtTime(st.from).slice(0, 5)}–${fmtTime(st.to).slice(0, 5)}`;
    drawSelection();
  }

  function drawSelection() {
    const sel = st.selection;
    selectionText.textContent = sel
      ? `${fmtDateTime(sel.from)} – ${fmtTime(sel.to)} (${Math.round(sel.to - sel.from)} s)`
      : t("playback_none");
    downloadBtn.disabled = !sel || sel.to - sel.from > MAX_EXPORT_S || sel.to <= sel.from;
    if (sel && sel.to - sel.from > MAX_EXPORT_S) status.textContent = t("playback_too_long");
  }

  async function refresh() {
    const answer = await api("/api/recordings/overview",
      { query: { camera: st.camera, from: st.day, to: st.dayEnd } });
    st.data = answer;
    draw();
  }

  function load(segment, offset) {
    st.current = segment;
    const seek = () => { video.currentTime = Math.max(0, offset); video.play().catch(() => {}); };
    if (video.dataset.segment !== String(segment.id)) {
      video.dataset.segment = String(segment.id);
      video.addEventListener("loadedmetadata", seek, { once: true });
      video.src = segment.url;
    } else {
      seek();
    }
    status.textContent = `${t("playback_playing")} ${fmtDateTime(segment.start + offset)}`;
  }

  function playAt(time) {
    const list = closed();
    const holding = list.find((s) => s.start <= time && time < s.end);
    if (holding) { load(holding, time - holding.start); return; }
    const next = list.find((s) => s.start > time);
    if (next) {
      load(next, 0);
      status.textContent = t("playback_next").replace("{t}", fmtTime(next.start));
    } else {
      status.textContent = t("playback_no_recording");
    }
  }

  function moveCursor(time, play = true) {
    st.cursor = Math.min(Math.max(time, st.day), st.dayEnd);
    if (st.cursor < st.from || st.cursor > st.to) frame();
    draw();
    if (play) playAt(st.cursor);
  }

  function zoom(delta) {
    st.zoom = Math.min(Math.max(st.zoom + delta, 0), ZOOMS.length - 1);
    frame();
    draw();
  }

  function select(a, b) {
    st.selection = { from: Math.min(a, b), to: Math.max(a, b) };
    exportBox.replaceChildren();
    draw();
  }

  async function exportRange() {
    const sel = st.selection;
    status.textContent = t("playback_exporting");
    downloadBtn.disabled = true;
    try {
      const result = await api("/api/exports", { method: "POST",
        body: { camera: st.camera, from: sel.from, to: sel.to } });
      exportBox.replaceChildren(el("span", {}, t("playback_export_done")), exportLinks(result.files));
      status.textContent = "";
    } catch (err) {
      status.textContent = err.lines ? err.lines().join("; ") : String(err);
    } finally {
      drawSelection();
    }
  }

  function timeAtPointer(ev) {
    const box = timeline.getBoundingClientRect();
    return st.from + ((ev.clientX - box.left) / box.width) * (st.to - st.from);
  }

  timeline.addEventListener("click", (ev) => {
    const time = timeAtPointer(ev);
    if (ev.shiftKey) select(st.cursor, time);
    else moveCursor(time);
  });

  function onKey(ev) {
    const tag = ev.target.tagName;
    if (["INPUT", "SELECT", "TEXTAREA", "VIDEO"].includes(tag) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const step = ev.shiftKey ? 60 : STEP_S;
    const actions = {
      ArrowLeft: () => moveCursor(st.cursor - step), ArrowRight: () => moveCursor(st.cursor + step),
      "+": () => zoom(1), "=": () => zoom(1), "-": () => zoom(-1), _: () => zoom(-1),
      "[": () => select(st.cursor, st.selection ? st.selection.to : st.cursor + 60),
      "]": () => select(st.selection ? st.selection.from : st.cursor - 60, st.cursor),
    };
    if (actions[ev.key]) { ev.preventDefault(); actions[ev.key](); }
  }

  video.addEventListener("timeupdate", () => {
    if (!st.current) return;
    st.cursor = st.current.start + video.currentTime;
    if (st.cursor > st.to) frame();
    draw();
  });
  video.addEventListener("ended", () => {
    const done = st.current;
    const next = closed().find((s) => s.id !== done.id && s.start >= done.end - 0.5);
    if (next) load(next, 0);
  });

  function rememberPlace() {
    window.history.replaceState(null, "", `#/playback/?camera=${encodeURIComponent(st.camera)}&t=${Math.round(st.cursor)}`);
  }

  cameraSelect.addEventListener("change", async () => {
    st.camera = cameraSelect.value;
    st.selection = null;
    video.removeAttribute("src");
    delete video.dataset.segment;
    st.current = null;
    rememberPlace();
    await refresh();
  });
  dayInput.addEventListener("change", async () => {
    if (!dayInput.value) return;
    setDay(dayInput.value);
    st.cursor = Math.min(Math.max(wallTimeIn(st.dayText, 9 * 3600, zone), st.day), st.dayEnd);
    st.selection = null;
    frame();
    rememberPlace();
    await refresh();
  });

  root.append(
    el("h2", { "data-i18n": "playback_title" }, t("playback_title")),
    el("div", { class: "toolbar" },
      el("label", {}, el("span", { "data-i18n": "playback_camera" }, t("playback_camera")), cameraSelect),
      el("label", {}, el("span", { "data-i18n": "playback_day" }, t("playback_day")), dayInput),
      el("button", { type: "button", onclick: () => zoom(-1), "data-i18n": "playback_zoom_out", title: "-" }, t("playback_zoom_out")),
      el("button", { type: "button", onclick: () => zoom(1), "data-i18n": "playback_zoom_in", title: "+" }, t("playback_zoom_in")),
      spanText, summary),
    el("p", { class: "muted", "data-i18n": "playback_help" }, t("playback_help")),
    timeline,
    el("ul", { class: "timeline-legend" },
      el("li", {}, el("span", { class: "swatch segment" }), el("span", { "data-i18n": "playback_legend_segment" }, t("playback_legend_segment"))),
      el("li", {}, el("span", { class: "swatch gap" }), el("span", { "data-i18n": "playback_legend_gap" }, t("playback_legend_gap"))),
      el("li", {}, el("span", { class: "swatch mark" }), el("span", { "data-i18n": "playback_legend_event" }, t("playback_legend_event")))),
    el("div", { class: "playback-main" }, video,
      el("div", { class: "playback-side" }, status,
        el("p", {}, el("strong", { "data-i18n": "playback_selection" }, t("playback_selection")), ": ", selectionText),
        mayExport ? el("div", { class: "toolbar" }, downloadBtn,
          el("button", { type: "button", "data-i18n": "playback_clear",
            onclick: () => { st.selection = null; exportBox.replaceChildren(); draw(); } }, t("playback_clear"))) : null,
        exportBox)));
  document.addEventListener("keydown", onKey);
  await refresh();
  if (asked > 0) playAt(st.cursor);
  const timer = setInterval(() => {
    if (st.dayEnd > Date.now() / 1000) refresh().catch((err) => console.warn(err));
  }, REFRESH_MS);
  return () => {
    clearInterval(timer);
    document.removeEventListener("keydown", onKey);
    video.pause();
    video.removeAttribute("src");
  };
}
