// Dashboards (统计分析): per hall and department, today or over days (GET /api/dashboard).
// Charts are plain SVG from ../charts.js, each with its numbers in a table.
import { api } from "../api.js";
import { barChart, histogram, lineChart } from "../charts.js";
import { el } from "../dom.js";
import { addMessages, onLang, t } from "../i18n.js";

addMessages({
  zh: {
    dashboard_title: "统计分析", dashboard_hall: "大厅", dashboard_department: "部门",
    dashboard_all: "全部", dashboard_today: "今天", dashboard_7: "近 7 天", dashboard_30: "近 30 天",
    dashboard_custom: "自定义", dashboard_from: "起始日期", dashboard_to: "截止日期",
    dashboard_apply: "查询", dashboard_range: "统计期间",
    dashboard_vacancy: "各窗口空岗时长", dashboard_vacancy_day: "每日空岗时长",
    dashboard_queue: "全天排队人数（每 15 分钟）", dashboard_waits: "等候时长分布",
    dashboard_cases: "办件按时情况", dashboard_cards: "督办牌数（按级别）",
    dashboard_minutes: "分钟", dashboard_window: "窗口", dashboard_date: "日期",
    dashboard_time: "时刻", dashboard_people: "人数", dashboard_mean: "平均排队人数",
    dashboard_max: "最多排队人数", dashboard_wait: "等候时长", dashboard_count: "人次",
    dashboard_cases_count: "件数", dashboard_on_time: "按时办结", dashboard_late: "超期办结",
    dashboard_open_ok: "在办未超期", dashboard_open_overdue: "在办已超期", dashboard_level: "级别",
    dashboard_cards_count: "张数", dashboard_warning: "预警", dashboard_yellow: "黄牌",
    dashboard_red: "红牌", dashboard_wait_summary: "共 {n} 人次，平均 {mean}，最长 {max}",
    dashboard_no_cases: "未接入办件数据", dashboard_sec: "秒", dashboard_min: "分",
    dashboard_none_dept: "（无部门）",
  },
  en: {
    dashboard_title: "Dashboards", dashboard_hall: "Hall", dashboard_department: "Department",
    dashboard_all: "All", dashboard_today: "Today", dashboard_7: "Last 7 days",
    dashboard_30: "Last 30 days", dashboard_custom: "Custom", dashboard_from: "From",
    dashboard_to: "To", dashboard_apply: "Show", dashboard_range: "Period",
    dashboard_vacancy: "Vacancy per window", dashboard_vacancy_day: "Vacancy per day",
    dashboard_queue: "Queue length over the day (15 min)", dashboard_waits: "Waiting times",
    dashboard_cases: "Cases on time", dashboard_cards: "Cards by level",
    dashboard_minutes: "minutes", dashboard_window: "Window", dashboard_date: "Date",
    dashboard_time: "Time of day", dashboard_people: "people", dashboard_mean: "mean queue",
    dashboard_max: "longest queue", dashboard_wait: "Wait", dashboard_count: "waits",
    dashboard_cases_count: "cases", dashboard_on_time: "done on time", dashboard_late: "done late",
    dashboard_open_ok: "open, on track", dashboard_open_overdue: "open, overdue",
    dashboard_level: "Level", dashboard_cards_count: "cards", dashboard_warning: "warning",
    dashboard_yellow: "yellow", dashboard_red: "red",
    dashboard_wait_summary: "{n} waits, mean {mean}, longest {max}",
    dashboard_no_cases: "No case data connected", dashboard_sec: "s", dashboard_min: "min",
    dashboard_none_dept: "(no department)",
  },
});

const RANGES = [["today", 1], ["7", 7], ["30", 30]];

function bucketLabel(bucket) {
  const m = (s) => (s % 60 === 0 ? `${s / 60}${t("dashboard_min")}` : `${s}${t("dashboard_sec")}`);
  return bucket.to === null ? `≥${m(bucket.from)}` : `${m(bucket.from)}–${m(bucket.to)}`;
}

function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value >= 60 ? `${(value / 60).toFixed(1)} ${t("dashboard_min")}` : `${Math.round(value)} ${t("dashboard_sec")}`;
}

function deptName(name) {
  return name || t("dashboard_none_dept");
}

function vacancyCharts(data) {
  const charts = [barChart({
    id: "chart-vacancy", title: t("dashboard_vacancy"),
    labels: data.vacancy.map((v) => v.name), xLabel: t("dashboard_window"),
    yLabel: t("dashboard_minutes"),
    series: [{ label: t("dashboard_minutes"), values: data.vacancy.map((v) => v.vacancy_minutes) }],
  })];
  if (data.vacancy_by_day.length > 1) {
    charts.push(barChart({
      id: "chart-vacancy-day", title: t("dashboard_vacancy_day"),
      labels: data.vacancy_by_day.map((d) => d.date.slice(5)), xLabel: t("dashboard_date"),
      yLabel: t("dashboard_minutes"),
      series: [{ label: t("dashboard_minutes"),
        values: data.vacancy_by_day.map((d) => d.vacancy_minutes) }],
    }));
  }
  return charts;
}

function queueChart(data) {
  const slots = data.queue.slots;
  return lineChart({
    id: "chart-queue", title: t("dashboard_queue"), labels: slots.map((s) => s.start),
    xLabel: t("dashboard_time"), yLabel: t("dashboard_people"),
    series: [
      { label: t("dashboard_mean"), values: slots.map((s) => s.mean) },
      { label: t("dashboard_max"), values: slots.map((s) => s.maximum), color: "#ffb020" },
    ],
  });
}

function waitChart(data) {
  const w = data.waits;
  const figure = histogram({
    id: "chart-waits", title: t("dashboard_waits"),
    buckets: w.buckets.map((b) => ({ label: bucketLabel(b), count: b.count })),
    xLabel: t("dashboard_wait"), yLabel: t("dashboard_count"), seriesLabel: t("dashboard_count"),
  });
  figure.append(el("p", { class: "muted" }, t("dashboard_wait_summary")
    .replace("{n}", w.count).replace("{mean}", seconds(w.mean_s)).replace("{max}", seconds(w.max_s))));
  return figure;
}

function caseCharts(data) {
  if (!data.cases) return [el("p", { class: "muted", id: "dashboard-no-cases" }, t("dashboard_no_cases"))];
  const rows = data.cases.by_department;
  const keys = [["on_time", "#3ecf6e"], ["late", "#ff5a5a"], ["open_on_track", "#4aa3ff"],
    ["open_overdue", "#ffb020"]];
  const names = { on_time: "dashboard_on_time", late: "dashboard_late",
    open_on_track: "dashboard_open_ok", open_overdue: "dashboard_open_overdue" };
  const cases = barChart({
    id: "chart-cases", title: t("dashboard_cases"), labels: rows.map((r) => deptName(r.department)),
    xLabel: t("dashboard_department"), yLabel: t("dashboard_cases_count"),
    series: keys.map(([key, color]) => ({ label: t(names[key]), color, values: rows.map((r) => r[key]) })),
  });
  const levels = [["warning", "#ffd479"], ["yellow", "#ffb020"], ["red", "#ff5a5a"]];
  const cardRows = data.cards.by_department;
  const cards = barChart({
    id: "chart-cards", title: t("dashboard_cards"),
    labels: cardRows.map((r) => deptName(r.department)),
    xLabel: t("dashboard_department"), yLabel: t("dashboard_cards_count"),
    series: levels.map(([key, color]) => ({ label: t(`dashboard_${key}`), color,
      values: cardRows.map((r) => r[key]) })),
  });
  return [cases, cards];
}

function options(select, items, current) {
  select.replaceChildren(el("option", { value: "" }, t("dashboard_all")),
    ...items.map(([value, label]) => el("option", { value, selected: value === current }, label)));
}

export default async function mount(root) {
  const state = { hall: "", department: "", days: 1, from: "", to: "", data: null };
  const hall = el("select", { id: "dashboard-hall" });
  const department = el("select", { id: "dashboard-department" });
  const from = el("input", { type: "date", id: "dashboard-from" });
  const to = el("input", { type: "date", id: "dashboard-to" });
  const error = el("p", { class: "error", role: "alert" });
  const period = el("p", { class: "muted", id: "dashboard-period" });
  const charts = el("div", { class: "dashboard-charts", id: "dashboard-charts" });
  const rangeButtons = RANGES.map(([key, days]) => el("button", {
    type: "button", "data-days": days, "data-i18n": `dashboard_${key}`,
    onclick: () => { state.days = days; state.from = ""; state.to = ""; load(); },
  }, t(`dashboard_${key}`)));

  function render() {
    const data = state.data;
    options(hall, data.halls.map((h) => [h.id, h.name]), state.hall);
    options(department, data.departments.map((d) => [d, d]), state.department);
    rangeButtons.forEach((b) => b.setAttribute("aria-pressed",
      String(!state.from && Number(b.dataset.days) === state.days)));
    period.textContent = `${t("dashboard_range")}: ${data.from} – ${data.to} (${data.timezone})`;
    charts.replaceChildren(...vacancyCharts(data), queueChart(data), waitChart(data), ...caseCharts(data));
  }

  async function load() {
    const query = { hall: state.hall, department: state.department };
    if (state.from && state.to) Object.assign(query, { from: state.from, to: state.to });
    else query.days = state.days;
    try {
      state.data = await api("/api/dashboard", { query });
      error.textContent = "";
      render();
    } catch (err) {
      error.textContent = err.lines ? err.lines().join("; ") : String(err);
    }
  }

  hall.addEventListener("change", () => { state.hall = hall.value; load(); });
  department.addEventListener("change", () => { state.department = department.value; load(); });
  const custom = el("form", { class: "dashboard-custom", onsubmit: (ev) => {
    ev.preventDefault();
    state.from = from.value;
    state.to = to.value;
    load();
  } },
  el("label", {}, el("span", { "data-i18n": "dashboard_from" }, t("dashboard_from")), from),
  el("label", {}, el("span", { "data-i18n": "dashboard_to" }, t("dashboard_to")), to),
  el("button", { type: "submit", "data-i18n": "dashboard_apply" }, t("dashboard_apply")));

  root.append(
    el("h2", { "data-i18n": "dashboard_title" }, t("dashboard_title")),
    el("div", { class: "toolbar" },
      el("label", {}, el("span", { "data-i18n": "dashboard_hall" }, t("dashboard_hall")), hall),
      el("label", {}, el("span", { "data-i18n": "dashboard_department" }, t("dashboard_department")),
        department),
      el("div", { class: "segmented", role: "group" }, rangeButtons), custom),
    error, period, charts);
  await load();
  return onLang(() => { if (state.data) render(); });
}
