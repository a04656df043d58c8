// The audit log (审计日志, auditors and admins): who did what and when, newest first; filters
// (user, action, target, time), paging, and a CSV download of the filtered log (the download is
// itself audited by the server). `#/audit/?user=&action=&target=&from=&to=&offset=`.
import { ApiError, api } from "../api.js";
import { el, fmtDateTime } from "../dom.js";
import { addMessages, fill, onLang, t } from "../i18n.js";

const PAGE = 50;
// actions written by the console; the filter also takes any other action name
const ACTIONS = [
  "login", "login_failed", "login_locked", "logout", "live_view", "live_view_end", "playback",
  "export", "export_download", "scores_exported", "verdict", "alarm_ack", "card_acknowledged",
  "config_change", "user_created", "user_changed", "user_password_reset", "user_deleted",
  "user_set", "admin_password_generated", "case_source_key_issued", "audit_exported",
  "relay_retry",
];

addMessages({
  zh: {
    audit_title: "审计日志", audit_user: "用户", audit_action: "操作", audit_target: "对象",
    audit_from: "起始时间", audit_to: "截止时间", audit_when: "时间", audit_details: "详情",
    audit_search: "查询", audit_reset: "重置", audit_csv: "导出 CSV", audit_prev: "上一页",
    audit_next: "下一页", audit_page: "第 {from}–{to} 条，共 {total} 条", audit_empty: "没有符合条件的记录",
    audit_any: "全部操作",
    audit_a_login: "登录", audit_a_login_failed: "登录失败", audit_a_login_locked: "登录锁定",
    audit_a_logout: "退出", audit_a_live_view: "实时查看", audit_a_playback: "录像回放",
    audit_a_export: "证据导出", audit_a_export_download: "下载导出", audit_a_verdict: "复核结论",
    audit_a_alarm_ack: "告警确认", audit_a_config_change: "配置修改",
    audit_a_live_view_end: "结束实时查看", audit_a_scores_exported: "导出考核评分",
    audit_a_card_acknowledged: "督办牌确认", audit_a_admin_password_generated: "生成管理员密码",
    audit_a_case_source_key_issued: "签发办件接口密钥",
    audit_a_user_created: "新建用户", audit_a_user_changed: "修改用户",
    audit_a_user_password_reset: "重置密码", audit_a_user_deleted: "删除用户",
    audit_a_user_set: "命令行设置用户", audit_a_audit_exported: "导出审计日志",
    audit_a_relay_retry: "上报立即重发",
  },
  en: {
    audit_title: "Audit log", audit_user: "User", audit_action: "Action", audit_target: "Target",
    audit_from: "From", audit_to: "To", audit_when: "When", audit_details: "Details",
    audit_search: "Search", audit_reset: "Reset", audit_csv: "Download CSV", audit_prev: "Previous",
    audit_next: "Next", audit_page: "Entries {from}–{to} of {total}", audit_empty: "No entries match",
    audit_any: "any action",
    audit_a_login: "login", audit_a_login_failed: "login failed", audit_a_login_locked: "login locked",
    audit_a_logout: "logout", audit_a_live_view: "live view", audit_a_playback: "playback",
    audit_a_export: "evidence export", audit_a_export_download: "export download",
    audit_a_verdict: "verdict", audit_a_alarm_ack: "alarm acknowledged",
    audit_a_config_change: "configuration changed", audit_a_user_created: "user created",
    audit_a_live_view_end: "live view ended", audit_a_scores_exported: "scores exported",
    audit_a_card_acknowledged: "card acknowledged",
    audit_a_admin_password_generated: "admin password generated",
    audit_a_case_source_key_issued: "case source key issued",
    audit_a_user_changed: "user changed", audit_a_user_password_reset: "password reset",
    audit_a_user_deleted: "user deleted", audit_a_user_set: "user set (command line)",
    audit_a_audit_exported: "audit log exported", audit_a_relay_retry: "upload sent now",
  },
});


function actionLabel(action) {
  const key = `audit_a_${action}`;
  const text = t(key);
  return text === key ? action : text;
}

/** datetime-local value (local time) <-> UNIX seconds */
function toUnix(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? String(Math.floor(ms / 1000)) : "";
}

function toLocalInput(unix) {
  if (!unix) return "";
  const d = new Date(Number(unix) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function details(entry) {
  const parts = Object.entries(entry.details || {}).map(([k, v]) =>
    `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
  return parts.join(", ");
}

export default async function mount(root, ctx) {
  const state = {
    user: ctx.params.get("user") || "", action: ctx.params.get("action") || "",
    target: ctx.params.get("target") || "", from: ctx.params.get("from") || "",
    to: ctx.params.get("to") || "", offset: Number(ctx.params.get("offset")) || 0,
  };
  let last = { items: [], total: 0 };
  const query = () => ({ user: state.user, action: state.action, target: state.target,
    from: state.from, to: state.to });

  function csvHref() {
    const params = new URLSearchParams();
    Object.entries(query()).forEach(([k, v]) => { if (v) params.append(k, v); });
    const text = params.toString();
    return `/api/audit.csv${text ? `?${text}` : ""}`;
  }

  const status = el("p", { id: "audit-status", class: "error", role: "alert" });
  const tbody = el("tbody", { id: "audit-rows" });
  const pager = el("div", { class: "pager", id: "audit-pager" });
  const csv = el("a", { id: "audit-csv", class: "button", download: "audit.csv" });

  function renderRows() {
    tbody.replaceChildren(...(last.items.length ? last.items.map((entry) => el("tr",
      { "data-action": entry.action },
      el("td", { class: "nowrap" }, fmtDateTime(entry.at)),
      el("td", {}, entry.username || "—"),
      el("td", {}, el("span", { title: entry.action }, actionLabel(entry.action))),
      el("td", { class: "audit-target" }, entry.target || ""),
      el("td", { class: "audit-details" }, details(entry)))) :
      [el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("audit_empty")))]));
    const to = Math.min(state.offset + PAGE, last.total);
    pager.replaceChildren(
      el("button", { type: "button", id: "audit-prev", disabled: state.offset === 0,
        onclick: () => { state.offset = Math.max(0, state.offset - PAGE); load(); } },
      t("audit_prev")),
      el("span", {}, fill(t("audit_page"), { from: last.total ? state.offset + 1 : 0, to,
        total: last.total })),
      el("button", { type: "button", id: "audit-next", disabled: to >= last.total,
        onclick: () => { state.offset += PAGE; load(); } }, t("audit_next")));
    csv.href = csvHref();
  }

  async function load() {
    status.textContent = "";
    try {
      last = await api("/api/audit", { query: { ...query(), limit: PAGE, offset: state.offset } });
    } catch (err) {
      status.textContent = err instanceof ApiError ? err.lines().join("; ") : String(err);
      last = { items: [], total: 0 };
    }
    renderRows();
  }

  function field(id, label, input) {
    return el("label", { for: id }, el("span", {}, label), input);
  }

  function build() {
    const user = el("input", { id: "audit-user", value: state.user, maxlength: 64 });
    const action = el("input", { id: "audit-action", value: state.action, maxlength: 64,
      list: "audit-actions", placeholder: t("audit_any") });
    const actions = el("datalist", { id: "audit-actions" },
      ...ACTIONS.map((a) => el("option", { value: a }, actionLabel(a))));
    const target = el("input", { id: "audit-target", value: state.target, maxlength: 200 });
    const from = el("input", { id: "audit-from", type: "datetime-local",
      value: toLocalInput(state.from) });
    const to = el("input", { id: "audit-to", type: "datetime-local", value: toLocalInput(state.to) });
    const form = el("form", { id: "audit-filters", class: "audit-filters", onsubmit: (ev) => {
      ev.preventDefault();
      Object.assign(state, { user: user.value.trim(), action: action.value.trim(),
        target: target.value.trim(), from: toUnix(from.value), to: toUnix(to.value), offset: 0 });
      load();
    } },
    field("audit-user", t("audit_user"), user),
    field("audit-action", t("audit_action"), action), actions,
    field("audit-target", t("audit_target"), target),
    field("audit-from", t("audit_from"), from),
    field("audit-to", t("audit_to"), to),
    el("button", { type: "submit", class: "primary", id: "audit-search" }, t("audit_search")),
    el("button", { type: "button", id: "audit-reset", onclick: () => {
      Object.assign(state, { user: "", action: "", target: "", from: "", to: "", offset: 0 });
      build();
      load();
    } }, t("audit_reset")));
    csv.textContent = t("audit_csv");
    const table = el("table", { class: "table audit-table" },
      el("thead", {}, el("tr", {}, ...["audit_when", "audit_user", "audit_action", "audit_target",
        "audit_details"].map((key) => el("th", { scope: "col" }, t(key))))),
      tbody);
    root.replaceChildren(el("h2", {}, t("audit_title")), form,
      el("div", { class: "audit-tools" }, csv), status, table, pager);
    renderRows();
  }

  build();
  await load();
  return onLang(() => build());
}
