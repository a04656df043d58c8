// The live alarm feed (beside the wall): stored events as they happen, newest first, coloured
// by severity; operators acknowledge them (who and when is shown); critical alarms that arrive
// live sound a WebAudio tone (mute saved in localStorage); a click brings the camera into the
// wall ("focus-camera" on the bus) and opens the event's clip in a dialog (Esc closes it).
import { api } from "./api.js";
import { allowed, el, fmtDuration, fmtTime } from "./dom.js";
import { addMessages, fill, onLang, t } from "./i18n.js";
import { createPlayer } from "./player.js";

addMessages({
  zh: {
    alarms_ack: "确认", alarms_acked: "已确认 {by} {at}", alarms_unacked_only: "仅看未确认",
    alarms_mute: "静音", alarms_unmute: "恢复提示音", alarms_sev_critical: "严重",
    alarms_sev_major: "重要", alarms_sev_minor: "一般", alarms_clip: "告警录像",
    alarms_clip_missing: "录像片段尚未生成：事件结束并经过后置时长后自动剪辑。",
    alarms_open_review: "在复核中打开", alarms_ack_failed: "确认失败",
    alarms_keys: "Tab 选择告警，Enter 查看，a 确认",
  },
  en: {
    alarms_ack: "Acknowledge", alarms_acked: "Acknowledged by {by} at {at}",
    alarms_unacked_only: "Unacknowledged only", alarms_mute: "Mute",
    alarms_unmute: "Sound on", alarms_sev_critical: "critical", alarms_sev_major: "major",
    alarms_sev_minor: "minor", alarms_clip: "Alarm clip",
    alarms_clip_missing: "No clip yet: it is cut once the event has ended and its post-roll is recorded.",
    alarms_open_review: "Open in review", alarms_ack_failed: "Acknowledgement failed",
    alarms_keys: "Tab to an alarm, Enter opens, a acknowledges",
  },
});

const MUTE_KEY = "hw_alarm_muted";
const SOUNDING = new Set(["critical"]);
const MAX_SHOWN = 200;

/** Whether a newly arrived event should sound: critical, not yet acknowledged, still new. */
export function shouldSound(ev, muted) {
  return !muted && SOUNDING.has(ev.severity) && !ev.ack;
}


/** A short two-tone alarm made with WebAudio (no audio file). */
class Siren {
  constructor() {
    this.ctx = null;
    this.unlock = () => { if (this.ctx) this.ctx.resume().catch(() => {}); };
    document.addEventListener("pointerdown", this.unlock);
    document.addEventListener("keydown", this.unlock);
  }

  play() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    this.ctx = this.ctx || new Ctx();
    this.ctx.resume().catch(() => {});
    const now = this.ctx.currentTime;
    [0, 0.3, 0.6].forEach((at, i) => {
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.15, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.25);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.26);
    });
  }

  close() {
    document.removeEventListener("pointerdown", this.unlock);
    document.removeEventListener("keydown", this.unlock);
    if (this.ctx) this.ctx.close().catch(() => {});
  }
}

function placeOf(windows, ev) {
  const w = windows.find((x) => x.id === ev.window);
  if (w) return `${w.name} (${w.department})`;
  const d = ev.details || {};
  const card = [d.department, d.item_name].filter(Boolean).join(" · ");
  return card || ev.window || ev.camera || "—";
}

function zonesOf(windows, ev) {
  const kinds = ["staff_zone", "queue_zone", "customer_zone"];
  return windows.filter((w) => (ev.window ? w.id === ev.window : w.camera === ev.camera))
    .flatMap((w) => kinds.filter((k) => w[k]).map((k) => ({ id: w.id, name: w.name, kind: k,
      polygon: w[k] })));
}

/** The clip dialog of one event; closing it (Esc, button) destroys the player. */
function openClip(ev, windows, ctx, returnFocus) {
  const player = createPlayer({ src: `/api/events/${ev.id}/clip`, zones: zonesOf(windows, ev),
    fps: 25, autoplay: true });
  const missing = el("p", { class: "muted", hidden: true }, t("alarms_clip_missing"));
  player.video.addEventListener("error", () => { missing.hidden = false; });
  const review = allowed(ctx.me.role, ["inspector"])
    ? el("a", { href: `#/review/${ev.id}` }, t("alarms_open_review")) : null;
  const close = el("button", { type: "button", class: "dialog-close" }, t("close"));
  const dialog = el("dialog", { class: "alarm-clip", id: "alarm-clip",
    "aria-label": t("alarms_clip") },
  el("header", {}, el("h2", {}, `${t(ev.type)} · ${placeOf(windows, ev)} · ${fmtTime(ev.start)}`),
    close),
  player.element, missing, review);
  close.addEventListener("click", () => dialog.close());
  if (review) review.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    player.destroy();
    dialog.remove();
    if (returnFocus && returnFocus.isConnected) returnFocus.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  player.element.focus();
  return dialog;
}

function ackLine(ev) {
  return fill(t("alarms_acked"), { by: ev.ack.by, at: fmtTime(ev.ack.at) });
}

function alarmItem(ev, windows, canAck, handlers) {
  const ended = ev.end !== null;
  const span = (ended ? ev.end : Date.now() / 1000) - ev.start;
  const sev = ev.severity || "minor";
  const open = el("button", { type: "button", class: "alarm-open", onclick: () => handlers.open(ev) },
    el("span", { class: "title" },
      el("span", { class: `sev sev-${sev}` }, t(`alarms_sev_${sev}`)),
      ` ${t(ev.type)} · ${placeOf(windows, ev)}`),
    el("span", { class: "when" },
      `${t("start")} ${fmtTime(ev.start)} · ${ended ? `${t("end")} ${fmtTime(ev.end)}` : t("ongoing")}`
      + ` · ${t("duration")} ${fmtDuration(span)}`));
  let ack = null;
  if (ev.ack) ack = el("span", { class: "acked" }, `✓ ${ackLine(ev)}`);
  else if (canAck) {
    ack = el("button", { type: "button", class: "ack", onclick: () => handlers.ack(ev) },
      t("alarms_ack"));
  }
  return el("li", { class: `${ended ? "closed" : "open"} sev-${sev}${ev.ack ? " is-acked" : ""}`,
    "data-event": ev.id, "data-severity": sev }, open, ack);
}

/** Fill `aside` with the feed; returns a function that stops it. */
export async function mountAlarmFeed(aside, ctx) {
  const canAck = allowed(ctx.me.role, ["operator"]);
  const list = el("ol", { id: "events", "aria-live": "polite" });
  const onlyUnacked = el("input", { type: "checkbox", id: "alarms-unacked" });
  const state = { muted: localStorage.getItem(MUTE_KEY) === "1" };
  const mute = el("button", { type: "button", id: "alarms-mute", class: "mute" });
  const status = el("p", { class: "error", role: "alert" });
  aside.append(
    el("div", { class: "feed-head" }, el("h2", { "data-i18n": "events" }, t("events")), mute),
    el("label", { class: "feed-filter" }, onlyUnacked,
      el("span", { "data-i18n": "alarms_unacked_only" }, t("alarms_unacked_only"))),
    status, list,
    el("p", { class: "feed-keys muted", "data-i18n": "alarms_keys" }, t("alarms_keys")));
  const events = new Map();
  const windows = await api("/api/windows");
  const recent = await api("/api/events", { query: { limit: 100 } });
  recent.items.forEach((ev) => events.set(ev.id, ev));
  const siren = new Siren();

  const showMute = () => {
    mute.textContent = state.muted ? t("alarms_unmute") : t("alarms_mute");
    mute.classList.toggle("is-muted", state.muted);
    mute.setAttribute("aria-pressed", state.muted ? "true" : "false");
  };
  const handlers = {
    open(ev) {
      ctx.bus.emit("focus-camera", { camera: ev.camera, event: ev });
      openClip(ev, windows, ctx, list.querySelector(`li[data-event="${ev.id}"] .alarm-open`));
    },
    async ack(ev) {
      try {
        const answer = await api(`/api/events/${ev.id}/ack`, { method: "POST" });
        events.set(ev.id, { ...events.get(ev.id), ack: answer.ack });
        status.textContent = "";
        draw();
      } catch (err) {
        status.textContent = `${t("alarms_ack_failed")}: ${err.message}`;
      }
    },
  };
  function draw() {
    const focused = document.activeElement && list.contains(document.activeElement)
      ? [document.activeElement.closest("li")?.dataset.event, document.activeElement.className]
      : null;
    const items = [...events.values()]
      .filter((ev) => !onlyUnacked.checked || !ev.ack)
      .sort((a, b) => b.start - a.start || b.id - a.id);
    if (!items.length) {
      list.replaceChildren(el("li", { class: "closed empty" }, t("no_events")));
      return;
    }
    list.replaceChildren(...items.slice(0, MAX_SHOWN).map(
      (ev) => alarmItem(ev, windows, canAck, handlers)));
    if (focused) {
      const li = list.querySelector(`li[data-event="${focused[0]}"]`);
      const target = li && (li.querySelector(`.${focused[1].split(" ")[0]}`) || li.querySelector(".alarm-open"));
      if (target) target.focus();
    }
  }
  const arrived = (ev) => {
    const fresh = !events.has(ev.id);
    events.set(ev.id, ev);
    if (fresh && shouldSound(ev, state.muted)) siren.play();
    draw();
  };
  mute.addEventListener("click", () => {
    state.muted = !state.muted;
    localStorage.setItem(MUTE_KEY, state.muted ? "1" : "0");
    showMute();
  });
  onlyUnacked.addEventListener("change", draw);
  list.addEventListener("keydown", (ev) => {
    if (ev.key !== "a" || ev.altKey || ev.ctrlKey || ev.metaKey || !canAck) return;
    const li = ev.target.closest("li[data-event]");
    const item = li && events.get(Number(li.dataset.event));
    if (item && !item.ack) {
      ev.preventDefault();
      handlers.ack(item);
    }
  });
  showMute();
  draw();
  const stops = [ctx.events.subscribe(arrived), onLang(() => { showMute(); draw(); })];
  const timer = setInterval(draw, 5000);
  return () => {
    clearInterval(timer);
    stops.forEach((stop) => stop());
    siren.close();
    const dialog = document.getElementById("alarm-clip");
    if (dialog) dialog.close();
  };
}
