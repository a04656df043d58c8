// Inspector review (复核): the queue of events with filters (hall, department, window, type,
// time range, verdict), keyboard navigation (j/k or arrows, Enter opens), the clip player with
// the zones overlay, the verdict form with its history, and evidence export.
import { api } from "../api.js";
import { el, exportLinks, fmtDateTime, fmtDuration, fmtTime } from "../dom.js";
import { addMessages, fill, onLang, t } from "../i18n.js";
import { createPlayer } from "../player.js";

addMessages({
  zh: {
    review_queue: "待复核事件", review_filters: "筛选", review_type: "类型", review_from: "开始时间",
    review_to: "结束时间", review_verdict_filter: "复核状态", review_vf_unreviewed: "未复核",
    review_vf_reviewed: "已复核", review_vf_any: "全部", review_total: "共 {n} 条",
    review_prev: "上一页", review_next: "下一页", review_reset: "重置",
    review_verdict_confirmed: "属实", review_verdict_false_alarm: "误报",
    review_verdict_follow_up: "需跟进", review_verdict: "复核结论", review_note: "备注",
    review_history: "复核记录", review_no_history: "尚无复核记录",
    review_saved: "已保存复核结论", review_export: "导出证据", review_exporting: "正在导出…",
    review_export_files: "证据文件", review_empty: "没有符合条件的事件",
    review_pick: "从左侧队列选择一个事件（j/k 或方向键移动，Enter 打开）",
    review_clip_waiting: "录像片段尚未生成（事件结束并经过后置时长后剪辑），正在等待…",
    review_clip_disabled: "未启用录像片段", review_ack: "告警确认", review_not_acked: "未确认",
    review_by: "{by} 于 {at}", review_new_events: "有新事件，点击刷新", review_place: "位置",
    review_time: "时间", review_severity: "级别", review_note_chars: "{n}/2000 字",
    review_event: "事件", review_details: "详情", review_sev_critical: "严重",
    review_sev_major: "重要", review_sev_minor: "一般",
  },
  en: {
    review_queue: "Review queue", review_filters: "Filters", review_type: "Type",
    review_from: "From", review_to: "To", review_verdict_filter: "Verdict",
    review_vf_unreviewed: "Unreviewed", review_vf_reviewed: "Reviewed", review_vf_any: "All",
    review_total: "{n} in all", review_prev: "Previous", review_next: "Next",
    review_reset: "Reset", review_verdict_confirmed: "Confirmed",
    review_verdict_false_alarm: "False alarm", review_verdict_follow_up: "Needs follow-up",
    review_verdict: "Verdict", review_note: "Note", review_history: "Review history",
    review_no_history: "No verdict yet", review_saved: "Verdict saved",
    review_export: "Export evidence", review_exporting: "Exporting…",
    review_export_files: "Evidence files", review_empty: "No events match",
    review_pick: "Pick an event in the queue (j/k or arrows to move, Enter to open)",
    review_clip_waiting: "No clip yet (cut once the event has ended and its post-roll is recorded); waiting…",
    review_clip_disabled: "Event clips are not enabled", review_ack: "Acknowledged",
    review_not_acked: "not acknowledged", review_by: "{by} at {at}",
    review_new_events: "New events: click to refresh", review_place: "Place",
    review_time: "Time", review_severity: "Severity", review_note_chars: "{n}/2000 characters",
    review_event: "Event", review_details: "Details", review_sev_critical: "critical",
    review_sev_major: "major", review_sev_minor: "minor",
  },
});

const TYPES = ["counter_vacant", "queue_buildup", "long_wait", "intrusion", "overcrowded",
  "case_warning", "case_yellow", "case_red"];
const VERDICTS = ["confirmed", "false_alarm", "follow_up"];
const VERDICT_FILTERS = ["unreviewed", "reviewed", ...VERDICTS, "any"];
const PAGE = 50;
const CLIP_POLL_MS = 4000;
const FILTER_KEYS = ["hall", "department", "window", "type", "from", "to", "verdict"];


function verdictKey(verdict) {
  return ["unreviewed", "reviewed", "any"].includes(verdict)
    ? `review_vf_${verdict}` : `review_verdict_${verdict}`;
}

function verdictLabel(verdict) {
  return t(verdictKey(verdict));
}

/** datetime-local value ⇄ UNIX seconds (local time). */
function toUnix(value) {
  return value ? Math.floor(new Date(value).getTime() / 1000) : undefined;
}

/** A labelled drop-down; options are [value, text] or [value, null, i18n key] (re-translated
 * with the page when the language changes). */
function select(name, options, value, labelKey) {
  return el("label", {}, el("span", { "data-i18n": labelKey }, t(labelKey)),
    el("select", { name, id: `review-${name}` },
      ...options.map(([v, text, key]) => el("option",
        { value: v, selected: v === value, "data-i18n": key || null }, key ? t(key) : text))));
}

function filtersForm(ctx, windows, initial) {
  const departments = [...new Set(windows.map((w) => w.department))].sort();
  const all = ["", null, "all"];
  const form = el("form", { class: "review-filters", id: "review-filters",
    "aria-label": t("review_filters") },
  select("hall", [all, ...ctx.site.halls.map((h) => [h.id, h.name])], initial.hall, "hall"),
  select("department", [all, ...departments.map((d) => [d, d])], initial.department, "department"),
  select("window", [all, ...windows.map((w) => [w.id, `${w.name} (${w.id})`])], initial.window,
    "window"),
  select("type", [all, ...TYPES.map((k) => [k, null, k])], initial.type, "review_type"),
  el("label", {}, el("span", { "data-i18n": "review_from" }, t("review_from")),
    el("input", { type: "datetime-local", name: "from", id: "review-from", value: initial.from })),
  el("label", {}, el("span", { "data-i18n": "review_to" }, t("review_to")),
    el("input", { type: "datetime-local", name: "to", id: "review-to", value: initial.to })),
  select("verdict", VERDICT_FILTERS.map((v) => [v, null, verdictKey(v)]), initial.verdict,
    "review_verdict_filter"),
  el("button", { type: "reset", "data-i18n": "review_reset" }, t("review_reset")));
  return form;
}

function readFilters(form) {
  const data = new FormData(form);
  const value = (k) => data.get(k) || "";
  return Object.fromEntries(FILTER_KEYS.map((k) => [k, value(k)]));
}

function queueItem(ev, windows, selected, onOpen) {
  const w = windows.find((x) => x.id === ev.window);
  const place = w ? `${w.name} · ${w.department}` : (ev.details?.department || ev.camera || "—");
  const verdict = ev.verdict ? verdictLabel(ev.verdict.verdict) : t("review_vf_unreviewed");
  return el("li", { "data-event": ev.id, class: `sev-${ev.severity}${selected ? " selected" : ""}` },
    el("button", { type: "button", class: "review-item", onclick: () => onOpen(ev.id),
      "aria-current": selected ? "true" : null },
    el("span", { class: "title" }, el("span", { class: `sev sev-${ev.severity}` },
      t(`review_sev_${ev.severity}`)), ` ${t(ev.type)} · ${place}`),
    el("span", { class: "when" }, `${fmtDateTime(ev.start)} · ${verdict}`
      + (ev.ack ? " · ✓" : ""))));
}

function facts(review) {
  const ev = review.event;
  const span = (ev.end ?? Date.now() / 1000) - ev.start;
  const place = [review.hall?.name, review.department, review.window_name || ev.window,
    review.camera_name || ev.camera].filter(Boolean).join(" · ");
  const ack = review.ack
    ? fill(t("review_by"), { by: review.ack.by, at: fmtDateTime(review.ack.at) })
    : t("review_not_acked");
  const rows = [
    ["review_place", place || "—"],
    ["review_time", `${fmtDateTime(ev.start)} – ${ev.end ? fmtTime(ev.end) : t("ongoing")}`
      + ` (${fmtDuration(span)})`],
    ["review_severity", t(`review_sev_${ev.severity}`)],
    ["review_ack", ack],
  ];
  const details = Object.entries(ev.details || {}).filter(([, v]) => typeof v !== "object");
  if (details.length) {
    rows.push(["review_details", details.map(([k, v]) => `${k}: ${v}`).join(", ")]);
  }
  return el("dl", { class: "review-facts" },
    ...rows.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));
}

function historyList(history) {
  if (!history.length) return el("p", { class: "muted", id: "review-history" }, t("review_no_history"));
  return el("ol", { class: "review-history", id: "review-history" }, ...history.map((h) =>
    el("li", { class: `verdict-${h.verdict}` },
      el("strong", {}, verdictLabel(h.verdict)),
      ` · ${fill(t("review_by"), { by: h.by, at: fmtDateTime(h.at) })}`,
      h.note ? el("div", { class: "note" }, h.note) : null)));
}

function exportFiles(result) {
  return el("div", { id: "review-export-files" },
    el("h3", {}, `${t("review_export_files")} · ${result.id}`),
    exportLinks(result.files));
}

/** The detail panel of one event: facts, player, verdict form, history, export. */
class Detail {
  constructor(panel, onVerdict) {
    this.panel = panel;
    this.onVerdict = onVerdict;
    this.player = null;
    this.timer = null;
    this.eventId = null;
  }

  clear() {
    if (this.player) this.player.destroy();
    this.player = null;
    clearTimeout(this.timer);
    this.timer = null;
  }

  empty() {
    this.clear();
    this.eventId = null;
    this.panel.replaceChildren(el("p", { class: "muted" }, t("review_pick")));
  }

  async open(eventId) {
    this.clear();
    this.eventId = eventId;
    this.panel.replaceChildren(el("p", { class: "muted" }, t("loading")));
    try {
      const review = await api(`/api/events/${eventId}/review`);
      if (this.eventId === eventId) this.render(review);
    } catch (err) {
      this.panel.replaceChildren(el("p", { class: "error" }, `${t("error")}: ${err.message}`));
    }
  }

  render(review) {
    const ev = review.event;
    const media = el("div", { class: "review-media", id: "review-media" });
    const note = el("textarea", { id: "review-note", maxlength: 2000, rows: 3,
      "aria-label": t("review_note") });
    const count = el("span", { class: "muted" }, fill(t("review_note_chars"), { n: 0 }));
    note.addEventListener("input", () => {
      count.textContent = fill(t("review_note_chars"), { n: note.value.length });
    });
    const status = el("p", { class: "review-status", role: "status", id: "review-status" });
    const history = el("div", {}, historyList(review.history));
    const buttons = VERDICTS.map((v) => el("button", { type: "button", "data-verdict": v,
      class: `verdict-btn verdict-${v}`, onclick: () => this.give(ev.id, v, note, status, history) },
    verdictLabel(v)));
    const exportButton = el("button", { type: "button", id: "review-export" }, t("review_export"));
    const exported = el("div", { class: "review-export" });
    exportButton.addEventListener("click", () => this.export(ev.id, exportButton, exported));
    this.panel.replaceChildren(
      el("div", { class: "review-main" },
        el("h2", { id: "review-title" }, `${t(ev.type)} · #${ev.id}`), media, facts(review)),
      el("div", { class: "review-side" },
        el("fieldset", { class: "review-form" },
          el("legend", {}, t("review_verdict")),
          el("div", { class: "verdict-buttons" }, ...buttons),
          el("label", { class: "review-note" }, el("span", {}, t("review_note")), note, count),
          status),
        el("section", {}, el("h3", {}, t("review_history")), history),
        el("section", {}, exportButton, exported)));
    this.showClip(review, media);
  }

  showClip(review, media) {
    if (review.clip.available) {
      this.player = createPlayer({ src: review.clip.url, zones: review.zones,
        fps: review.clip.fps || 25, start: review.clip.start, autoplay: true });
      media.replaceChildren(this.player.element);
      return;
    }
    media.replaceChildren(el("p", { class: "muted", id: "review-clip-waiting" },
      t(review.clip.enabled ? "review_clip_waiting" : "review_clip_disabled")));
    if (!review.clip.enabled) return;
    const eventId = review.event.id;
    this.timer = setTimeout(async () => {
      try {
        const again = await api(`/api/events/${eventId}/review`);
        if (this.eventId === eventId && media.isConnected) this.showClip(again, media);
      } catch (err) {
        console.warn(err);
      }
    }, CLIP_POLL_MS);
  }

  async give(eventId, verdict, note, status, history) {
    status.className = "review-status";
    try {
      const answer = await api(`/api/events/${eventId}/verdict`,
        { method: "PUT", body: { verdict, note: note.value } });
      history.replaceChildren(historyList(answer.history));
      status.textContent = `${t("review_saved")}: ${verdictLabel(verdict)}`;
      note.value = "";
      note.dispatchEvent(new Event("input"));
      this.onVerdict(eventId, answer.verdict);
    } catch (err) {
      status.className = "review-status error";
      status.textContent = err.lines ? err.lines().join("; ") : err.message;
    }
  }

  async export(eventId, button, out) {
    button.disabled = true;
    out.replaceChildren(el("p", { class: "muted" }, t("review_exporting")));
    try {
      const result = await api("/api/exports", { method: "POST", body: { event_id: eventId } });
      out.replaceChildren(exportFiles(result));
    } catch (err) {
      out.replaceChildren(el("p", { class: "error" },
        err.lines ? err.lines().join("; ") : err.message));
    } finally {
      button.disabled = false;
    }
  }
}

function initialFilters(params) {
  const values = Object.fromEntries(FILTER_KEYS.map((k) => [k, params.get(k) || ""]));
  if (!VERDICT_FILTERS.includes(values.verdict)) values.verdict = "unreviewed";
  return values;
}

function isTyping(target) {
  return ["INPUT", "SELECT", "TEXTAREA", "VIDEO"].includes(target.tagName)
    || Boolean(target.closest && target.closest(".player"));
}

export default async function mount(root, ctx) {
  const windows = await api("/api/windows");
  const form = filtersForm(ctx, windows, initialFilters(ctx.params));
  const list = el("ol", { id: "review-list", class: "review-list" });
  const count = el("span", { class: "muted", id: "review-count" });
  const error = el("p", { class: "error", role: "alert" });
  const prev = el("button", { type: "button", id: "review-prev" }, t("review_prev"));
  const next = el("button", { type: "button", id: "review-next" }, t("review_next"));
  const fresh = el("button", { type: "button", class: "review-fresh", hidden: true },
    t("review_new_events"));
  const panel = el("section", { class: "review-detail", id: "review-detail",
    "aria-live": "polite" });
  root.append(el("div", { class: "review-layout" },
    el("section", { class: "review-queue" },
      el("h2", { "data-i18n": "review_queue" }, t("review_queue")), form,
      el("div", { class: "review-pager" }, count, prev, next), fresh, error, list),
    panel));
  const state = { items: [], total: 0, offset: 0, selected: 0 };
  const detail = new Detail(panel, (eventId, verdict) => {
    const item = state.items.find((ev) => ev.id === eventId);
    if (item) item.verdict = verdict;
    draw();
  });

  function open(eventId) {
    const index = state.items.findIndex((ev) => ev.id === eventId);
    if (index >= 0) state.selected = index;
    draw();
    history.replaceState(null, "", `#/review/${eventId}`);
    detail.open(eventId);
  }

  function draw() {
    count.textContent = fill(t("review_total"), { n: state.total });
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + PAGE >= state.total;
    if (!state.items.length) {
      list.replaceChildren(el("li", { class: "empty muted" }, t("review_empty")));
      return;
    }
    list.replaceChildren(...state.items.map(
      (ev, i) => queueItem(ev, windows, i === state.selected, open)));
  }

  async function load() {
    const f = readFilters(form);
    const query = { ...f, from: toUnix(f.from), to: toUnix(f.to), limit: PAGE, offset: state.offset };
    try {
      const answer = await api("/api/review", { query });
      const selectedId = state.items[state.selected]?.id;
      state.items = answer.items;
      state.total = answer.total;
      const kept = state.items.findIndex((ev) => ev.id === selectedId);
      state.selected = kept >= 0 ? kept : 0;
      error.textContent = "";
      fresh.hidden = true;
    } catch (err) {
      error.textContent = err.lines ? err.lines().join("; ") : err.message;
    }
    draw();
  }

  function move(delta) {
    if (!state.items.length) return;
    state.selected = Math.min(state.items.length - 1, Math.max(0, state.selected + delta));
    draw();
    const button = list.querySelectorAll(".review-item")[state.selected];
    if (button) {
      button.focus();
      button.scrollIntoView({ block: "nearest" });
    }
  }

  const keys = (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || isTyping(ev.target)) return;
    if (ev.key === "j" || ev.key === "ArrowDown") move(1);
    else if (ev.key === "k" || ev.key === "ArrowUp") move(-1);
    else if (ev.key === "Enter" && ev.target.tagName !== "BUTTON" && ev.target.tagName !== "A") {
      const item = state.items[state.selected];
      if (item) open(item.id);
    } else return;
    ev.preventDefault();
  };
  form.addEventListener("change", () => { state.offset = 0; load(); });
  form.addEventListener("reset", () => setTimeout(() => { state.offset = 0; load(); }));
  form.addEventListener("submit", (ev) => ev.preventDefault());
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
  next.addEventListener("click", () => { state.offset += PAGE; load(); });
  fresh.addEventListener("click", load);
  document.addEventListener("keydown", keys);
  const stopEvents = ctx.events.subscribe((ev) => {
    const index = state.items.findIndex((item) => item.id === ev.id);
    if (index >= 0) {
      state.items[index] = ev;
      draw();
    } else if (!state.items.length || ev.start >= state.items[0].start) {
      fresh.hidden = false;
    }
  });
  const stopLang = onLang(() => {
    draw();
    if (detail.eventId !== null) detail.open(detail.eventId);
  });

  await load();
  const wanted = Number(ctx.path[0]);
  if (Number.isInteger(wanted) && wanted > 0) open(wanted);
  else detail.empty();
  return () => {
    document.removeEventListener("keydown", keys);
    stopEvents();
    stopLang();
    detail.clear();
  };
}
