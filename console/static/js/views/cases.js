// Case supervision (办件督办): `#/cases/?status=&card=&department=&window=&offset=` lists cases
// (most urgent first, paged); `#/cases/<case_id>` shows one case: its deadline in working days,
// its card with reasons and history, and its timeline (acceptance, steps, pauses, completion,
// card changes) with buttons that open the window's recording at that time in the playback view.
import { api } from "../api.js";
import { el, fmtDateTime } from "../dom.js";
import { addMessages, fill, getLang, onLang, t } from "../i18n.js";

addMessages({
  zh: {
    cases_title: "办件督办", cases_status: "状态", cases_card: "督办牌", cases_department: "部门",
    cases_window: "窗口", cases_all: "全部", cases_open: "在办", cases_completed: "已办结",
    cases_withdrawn: "已撤回", cases_none: "无", cases_warning: "预警", cases_yellow: "黄牌",
    cases_red: "红牌", cases_id: "办件编号", cases_item: "事项", cases_accepted: "受理时间",
    cases_deadline: "承诺截止", cases_remaining: "剩余", cases_prev: "上一页", cases_next: "下一页",
    cases_page: "第 {p} / {n} 页，共 {total} 件", cases_back: "← 返回办件列表", cases_empty: "没有符合条件的办件",
    cases_filter: "筛选", cases_reset: "重置",
    cases_clock_title: "时限计算", cases_timeline: "办理过程", cases_card_title: "督办牌",
    cases_reasons: "原因", cases_history: "记录", cases_no_card: "未亮牌",
    cases_play_accept: "播放受理时录像", cases_play_step: "播放本环节录像",
    cases_ev_accepted: "受理", cases_ev_step: "环节", cases_ev_pause: "暂停计时",
    cases_ev_completed: "办结", cases_ev_withdrawn: "撤回", cases_ev_card: "督办牌",
    cases_running: "进行中", cases_took: "用时 {d} 个工作日", cases_node_limit: "环节时限 {n}",
    cases_no_camera: "无对应摄像机", cases_clock_none: "无承诺时限，不计时",
    cases_unit_working_days: "个工作日", cases_unit_natural_days: "个自然日",
    cases_unit_working_hours: "个工作小时",
    cases_clock_text: "承诺时限 {amount} {unit}：受理 {accepted}，暂停 {paused} 个工作日，截止 {deadline}；{when}已用 {used} 个工作日，{left}",
    cases_clock_left: "剩余 {d}", cases_clock_over: "已超期 {d} 个工作日", cases_clock_at_done: "办结时",
    cases_suspended_now: "（计时暂停中，截止时间随暂停顺延）", cases_provisional: "（暂定：所涉年份节假日未录入）",
    cases_legal: "法定截止", cases_clock_start: "起算时间",
    cases_action_raise: "亮牌", cases_action_escalate: "升级", cases_action_close: "撤牌",
    cases_action_acknowledge: "已确认",
    cases_kind_correction: "补正材料", cases_kind_hearing: "听证", cases_kind_tender: "招标",
    cases_kind_auction: "拍卖", cases_kind_inspection: "检验检测检疫", cases_kind_expert_review: "专家评审",
    cases_kind_other: "其他",
    cases_outcome_approved: "准予许可", cases_outcome_refused: "不予许可", cases_outcome_not_accepted: "不予受理",
  },
  en: {
    cases_title: "Cases", cases_status: "Status", cases_card: "Card", cases_department: "Department",
    cases_window: "Window", cases_all: "All", cases_open: "open", cases_completed: "completed",
    cases_withdrawn: "withdrawn", cases_none: "none", cases_warning: "warning", cases_yellow: "yellow",
    cases_red: "red", cases_id: "Case", cases_item: "Item", cases_accepted: "Accepted",
    cases_deadline: "Promised by", cases_remaining: "Left", cases_prev: "Previous", cases_next: "Next",
    cases_page: "Page {p} of {n}, {total} cases", cases_back: "← Back to the cases", cases_empty: "No cases match",
    cases_filter: "Filter", cases_reset: "Reset",
    cases_clock_title: "Time limit", cases_timeline: "Handling", cases_card_title: "Card",
    cases_reasons: "Reasons", cases_history: "History", cases_no_card: "no card",
    cases_play_accept: "Play recording at acceptance", cases_play_step: "Play this step's recording",
    cases_ev_accepted: "Accepted", cases_ev_step: "Step", cases_ev_pause: "Clock paused",
    cases_ev_completed: "Completed", cases_ev_withdrawn: "Withdrawn", cases_ev_card: "Card",
    cases_running: "ongoing", cases_took: "took {d} working days", cases_node_limit: "step limit {n}",
    cases_no_camera: "no camera known", cases_clock_none: "No promised limit: no clock",
    cases_unit_working_days: "working days", cases_unit_natural_days: "calendar days",
    cases_unit_working_hours: "working hours",
    cases_clock_text: "Promised {amount} {unit}: accepted {accepted}, paused {paused} working days, due {deadline}; {when}used {used} working days, {left}",
    cases_clock_left: "{d} left", cases_clock_over: "overdue by {d} working days", cases_clock_at_done: "at completion ",
    cases_suspended_now: " (clock paused: the deadline moves while it lasts)", cases_provisional: " (provisional: holidays of a year not entered)",
    cases_legal: "Legal deadline", cases_clock_start: "Clock starts",
    cases_action_raise: "raised", cases_action_escalate: "escalated", cases_action_close: "closed",
    cases_action_acknowledge: "acknowledged",
    cases_kind_correction: "correction", cases_kind_hearing: "hearing", cases_kind_tender: "tender",
    cases_kind_auction: "auction", cases_kind_inspection: "inspection", cases_kind_expert_review: "expert review",
    cases_kind_other: "other",
    cases_outcome_approved: "approved", cases_outcome_refused: "refused", cases_outcome_not_accepted: "not accepted",
  },
});

const PAGE = 20;


/** Working days for display: one decimal, without a trailing ".0". */
export function days(value) {
  const rounded = Math.round(value * 10) / 10;
  return Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
}

function dateOnly(unix) {
  return new Date(unix * 1000).toLocaleDateString(getLang() === "en" ? "en-GB" : "zh-CN");
}

/** The deadline arithmetic as one sentence, e.g. "承诺时限 5 个工作日：受理 …，暂停 2 个工作日，…". */
export function clockSentence(clock, completed) {
  const left = clock.remaining_days >= 0
    ? fill(t("cases_clock_left"), { d: days(clock.remaining_days) })
    : fill(t("cases_clock_over"), { d: days(-clock.remaining_days) });
  let text = fill(t("cases_clock_text"), {
    amount: clock.limit.amount, unit: t(`cases_unit_${clock.limit.unit}`),
    accepted: dateOnly(clock.accepted_at), paused: days(clock.paused_days),
    deadline: fmtDateTime(clock.deadline).replace(/:00$/, ""),
    when: completed ? t("cases_clock_at_done") : "", used: days(clock.used_days), left,
  });
  if (clock.suspended) text += t("cases_suspended_now");
  if (clock.provisional) text += t("cases_provisional");
  return text;
}

function pill(level) {
  if (!level) return el("span", { class: "pill muted" }, t("cases_none"));
  return el("span", { class: `pill card-${level}` }, t(`cases_${level}`));
}

function playLink(place, label) {
  if (!place || !place.camera) return el("span", { class: "muted" }, t("cases_no_camera"));
  const href = `#/playback/?camera=${encodeURIComponent(place.camera)}&t=${Math.floor(place.from)}`;
  return el("a", { class: "button play-link", href, "data-camera": place.camera, "data-t": Math.floor(place.from) }, label);
}

// ---- the list -------------------------------------------------------------------------------

function select(id, name, values, current) {
  return el("label", {}, el("span", {}, t(name)), el("select", { id, name: id },
    el("option", { value: "" }, t("cases_all")),
    values.map(([v, label]) => el("option", { value: v, selected: v === current }, label))));
}

async function mountList(root, params) {
  const windows = await api("/api/windows").catch(() => []);
  const query = Object.fromEntries(["status", "card", "department", "window"]
    .map((k) => [k, params.get(k) || ""]));
  const offset = Number(params.get("offset")) || 0;
  const answer = await api("/api/cases", { query: { ...query, limit: PAGE, offset } });
  const departments = [...new Set(windows.map((w) => w.department))];
  const form = el("form", { class: "toolbar", id: "cases-filters", onsubmit: (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const [k, v] of data.entries()) if (v) next.set(k.replace("cases-", ""), v);
    window.location.hash = `#/cases/?${next}`;
  } },
  select("cases-status", "cases_status", ["open", "completed", "withdrawn"].map((s) => [s, t(`cases_${s}`)]), query.status),
  select("cases-card", "cases_card", ["red", "yellow", "warning", "none"].map((s) => [s, t(`cases_${s}`)]), query.card),
  el("label", {}, el("span", {}, t("cases_department")),
    el("input", { id: "cases-department", name: "cases-department", list: "cases-departments", value: query.department }),
    el("datalist", { id: "cases-departments" }, departments.map((d) => el("option", { value: d })))),
  select("cases-window", "cases_window", windows.map((w) => [w.id, `${w.name} (${w.id})`]), query.window),
  el("button", { type: "submit" }, t("cases_filter")),
  el("a", { href: "#/cases", class: "button" }, t("cases_reset")));

  const rows = answer.items.map((c) => el("tr", {},
    el("td", {}, el("a", { href: `#/cases/${encodeURIComponent(c.case_id)}`, class: "case-link" }, c.case_id)),
    el("td", {}, c.item_name || "—"), el("td", {}, c.department || "—"), el("td", {}, c.window_id || "—"),
    el("td", {}, fmtDateTime(c.accepted_at)), el("td", {}, t(`cases_${c.status}`)), el("td", {}, pill(c.card_level)),
    el("td", {}, fmtDateTime(c.promised_deadline))));
  const pages = Math.max(1, Math.ceil(answer.total / PAGE));
  const page = Math.floor(offset / PAGE) + 1;
  const link = (o) => {
    const p = new URLSearchParams(params);
    p.set("offset", String(o));
    return `#/cases/?${p}`;
  };
  root.append(
    el("h2", {}, t("cases_title")), form,
    el("table", { class: "table", id: "cases-table" },
      el("thead", {}, el("tr", {}, ["cases_id", "cases_item", "cases_department", "cases_window",
        "cases_accepted", "cases_status", "cases_card", "cases_deadline"].map((k) => el("th", { scope: "col" }, t(k))))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 8, class: "muted" }, t("cases_empty"))))),
    el("nav", { class: "pager", "aria-label": "pages" },
      page > 1 ? el("a", { href: link(offset - PAGE), class: "button", id: "cases-prev" }, t("cases_prev")) : null,
      el("span", { id: "cases-page" }, fill(t("cases_page"), { p: page, n: pages, total: answer.total })),
      page < pages ? el("a", { href: link(offset + PAGE), class: "button", id: "cases-next" }, t("cases_next")) : null));
}

// ---- one case -------------------------------------------------------------------------------

function entry(at, title, ...details) {
  return { at, node: el("li", { class: "case-event" },
    el("time", { datetime: new Date(at * 1000).toISOString() }, fmtDateTime(at)),
    el("div", {}, el("strong", {}, title), ...details)) };
}

function timelineEntries(c) {
  const places = c.video || [];
  const out = [];
  const acc = c.events.find((e) => e.type === "accepted");
  if (acc) {
    const place = places.find((p) => p.what === "accepted");
    out.push(entry(acc.at, t("cases_ev_accepted"), ` ${acc.body.window_id || ""} `,
      playLink(place, t("cases_play_accept"))));
  }
  c.steps.forEach((s) => {
    const place = places.find((p) => p.what === s.name && Math.abs(p.from - s.start) < 1);
    const span = s.end === null ? t("cases_running") : fmtDateTime(s.end);
    const limit = s.limit ? ` · ${fill(t("cases_node_limit"), { n: `${s.limit.amount} ${t(`cases_unit_${s.limit.unit}`)}` })}` : "";
    out.push(entry(s.start, `${t("cases_ev_step")}：${s.name}`,
      el("span", { class: "muted" }, ` → ${span} · ${fill(t("cases_took"), { d: days(s.working_days) })}${limit} `),
      place ? playLink(place, t("cases_play_step")) : null));
  });
  c.pauses.forEach((p) => {
    const ev = c.events.find((e) => e.type === "suspended" && Math.abs(e.at - p.start) < 1);
    const kind = ev ? t(`cases_kind_${ev.body.kind}`) : "";
    const reason = ev && ev.body.reason ? ` · ${ev.body.reason}` : "";
    out.push(entry(p.start, `${t("cases_ev_pause")}（${kind}）`, el("span", { class: "muted" },
      ` → ${p.end === null ? t("cases_running") : fmtDateTime(p.end)} · ${fill(t("cases_took"), { d: days(p.working_days) })}${reason}`)));
  });
  c.events.filter((e) => e.type === "completed" || e.type === "withdrawn").forEach((e) => {
    const outcome = e.body.outcome ? ` · ${t(`cases_outcome_${e.body.outcome}`)}` : "";
    out.push(entry(e.at, t(`cases_ev_${e.type}`), el("span", {}, `${outcome}${e.body.reason ? ` · ${e.body.reason}` : ""}`)));
  });
  (c.card ? c.card.history : []).forEach((h) => {
    out.push(entry(h.at, `${t("cases_ev_card")}：${t(`cases_${h.level}`)} ${t(`cases_action_${h.action}`)}`,
      el("span", { class: "muted" }, `${h.by_user ? ` · ${h.by_user}` : ""}${h.note ? ` · ${h.note}` : ""}`)));
  });
  return out.sort((a, b) => a.at - b.at).map((e) => e.node);
}

function clockBox(c) {
  if (!c.clock) return el("p", { class: "muted" }, t("cases_clock_none"));
  const k = c.clock;
  return el("div", { id: "case-clock" },
    el("p", { class: "clock-sentence", id: "case-clock-text" }, clockSentence(k, c.completed_at !== null)),
    el("dl", { class: "facts" },
      el("dt", {}, t("cases_clock_start")), el("dd", {}, fmtDateTime(k.clock_start)),
      el("dt", {}, t("cases_deadline")), el("dd", {}, fmtDateTime(k.deadline)),
      el("dt", {}, t("cases_legal")), el("dd", {}, fmtDateTime(c.legal_deadline))));
}

function cardBox(card) {
  if (!card) return el("p", { class: "muted", id: "case-card" }, t("cases_no_card"));
  return el("div", { id: "case-card", class: `case-card card-${card.level}` },
    el("p", {}, pill(card.level), " ", card.state === "open" ? "" : t("cases_action_close")),
    el("h4", {}, t("cases_reasons")),
    el("ul", { id: "case-reasons" }, card.reasons.map((r) => el("li", {}, pill(r.level), " ", r.text))));
}

async function mountCase(root, caseId) {
  const c = await api(`/api/cases/${encodeURIComponent(caseId)}`);
  root.append(
    el("p", {}, el("a", { href: "#/cases", id: "cases-back" }, t("cases_back"))),
    el("h2", { id: "case-title" }, `${c.item_name || c.item_code || ""} · ${c.case_id}`),
    el("p", {}, `${t("cases_department")}: ${c.department || "—"} · ${t("cases_window")}: ${c.window_id || "—"} · `,
      `${t("cases_status")}: ${t(`cases_${c.status}`)} · `, pill(c.card_level)),
    el("div", { class: "case-grid" },
      el("section", {}, el("h3", {}, t("cases_clock_title")), clockBox(c),
        el("h3", {}, t("cases_card_title")), cardBox(c.card)),
      el("section", {}, el("h3", {}, t("cases_timeline")),
        el("ol", { class: "case-timeline", id: "case-timeline" }, timelineEntries(c)))));
}

export default async function mount(root, ctx) {
  async function render() {
    root.replaceChildren();
    if (ctx.path.length) await mountCase(root, decodeURIComponent(ctx.path[0]));
    else await mountList(root, ctx.params);
  }
  await render();
  return onLang(() => { render().catch((err) => console.warn(err)); });
}
