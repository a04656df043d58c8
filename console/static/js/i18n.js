// UI strings: Simplified Chinese by default, English on request (saved in localStorage).
// Each view adds its own strings with addMessages(); t(key) falls back to Chinese, then the key.
const MESSAGES = {
  zh: {
    app_title: "政务服务视频监察", username: "用户名", password: "密码", login: "登录",
    logout: "退出", login_failed: "用户名或密码错误", cameras: "实时画面", events: "实时告警",
    windows: "窗口状态", online: "在线", offline: "离线", reconnects: "重连次数",
    last_frame: "最新画面", no_frame: "暂无画面", persons: "人数", staff: "在岗人数",
    queue: "排队人数", state_staffed: "在岗", state_vacant: "空岗", state_off_duty: "非服务时间",
    ongoing: "持续中", no_events: "暂无告警", window: "窗口", department: "部门",
    start: "开始", end: "结束", duration: "时长", counter_vacant: "窗口空岗", camera: "摄像机",
    connected: "已连接", disconnected: "连接中断，正在重连…", seconds: "秒",
    queue_buildup: "排队拥堵", long_wait: "等候超时", intrusion: "非开放时段闯入",
    overcrowded: "人员超限", service_serving: "办理中", service_staffed: "在岗空闲",
    service_vacant: "空岗", service_off_duty: "非服务时间",
    case_warning: "办件预警", case_yellow: "办件黄牌", case_red: "办件红牌",
    nav_wall: "实时监控", nav_review: "复核", nav_cases: "办件督办", nav_playback: "录像回放",
    nav_dashboard: "统计分析", nav_admin: "配置管理", nav_users: "用户管理", nav_audit: "审计日志",
    nav_relay: "联网上报",
    role_admin: "管理员", role_operator: "值班员", role_inspector: "纪检监察员", role_auditor: "审计员",
    loading: "加载中…", error: "出错了", forbidden: "您的角色无权访问此页面", save: "保存",
    cancel: "取消", close: "关闭", search: "查询", all: "全部", hall: "大厅",
    login_locked: "登录失败次数过多，请 {s} 秒后再试", skip_to_content: "跳到内容",
    calendar_gap: "{year} 年节假日安排尚未发布：服务日暂按工作日时间计算。"
      + "请在 schedule.holidays 和 schedule.workdays 中列出 {year} 年的节假日和调休上班日。",
  },
  en: {
    app_title: "Service hall video supervision", username: "User name", password: "Password",
    login: "Log in", logout: "Log out", login_failed: "Wrong user name or password",
    cameras: "Live cameras", events: "Live alarms", windows: "Windows", online: "online",
    offline: "offline", reconnects: "reconnects", last_frame: "last frame", no_frame: "no frame yet",
    persons: "persons", staff: "staff", queue: "queue", state_staffed: "staffed",
    state_vacant: "vacant", state_off_duty: "off duty", ongoing: "ongoing", no_events: "no alarms",
    window: "Window", department: "Department", start: "Start", end: "End", duration: "Duration",
    counter_vacant: "Counter vacant", camera: "Camera", connected: "connected",
    disconnected: "disconnected, retrying…", seconds: "s",
    queue_buildup: "Queue build-up", long_wait: "Long wait", intrusion: "Intrusion",
    overcrowded: "Overcrowded", service_serving: "serving", service_staffed: "staffed, idle",
    service_vacant: "vacant", service_off_duty: "off duty",
    case_warning: "Case warning", case_yellow: "Case yellow card", case_red: "Case red card",
    nav_wall: "Live wall", nav_review: "Review", nav_cases: "Cases", nav_playback: "Playback",
    nav_dashboard: "Dashboards", nav_admin: "Configuration", nav_users: "Users", nav_audit: "Audit log",
    nav_relay: "Relay",
    role_admin: "administrator", role_operator: "operator", role_inspector: "inspector",
    role_auditor: "auditor", loading: "Loading…", error: "Error",
    forbidden: "Your role may not open this page", save: "Save", cancel: "Cancel", close: "Close",
    search: "Search", all: "All", hall: "Hall",
    login_locked: "Too many failed logins; try again in {s} s",
    skip_to_content: "Skip to content",
    calendar_gap: "{year} holiday calendar not yet published: service days fall back to weekday"
      + " hours. List {year}'s holidays and make-up working days under schedule.holidays"
      + " and schedule.workdays.",
  },
};

// Validation problems by pydantic error type (FastAPI's 422 and the config check give `type`
// and its values in `ctx`), worded in Chinese; English keeps the server's own message, as do
// types not listed here and the config check's own reasons.
const PROBLEMS_ZH = {
  missing: "必填", extra_forbidden: "不认识的配置项",
  greater_than: "应大于 {gt}", greater_than_equal: "应不小于 {ge}",
  less_than: "应小于 {lt}", less_than_equal: "应不大于 {le}",
  finite_number: "应为有限的数值",
  string_too_short: "至少 {min_length} 个字符", string_too_long: "最多 {max_length} 个字符",
  string_pattern_mismatch: "格式不符（应匹配 {pattern}）",
  too_short: "至少 {min_length} 项", too_long: "最多 {max_length} 项",
  int_parsing: "应为整数", int_type: "应为整数", int_from_float: "应为整数",
  float_parsing: "应为数字", float_type: "应为数字",
  bool_parsing: "应为“是”或“否”", bool_type: "应为“是”或“否”",
  string_type: "应为文字", list_type: "应为列表", dict_type: "应为映射", model_type: "应为映射",
  literal_error: "应为以下之一：{expected}", enum: "应为以下之一：{expected}",
  time_parsing: "时间格式不对（应为 HH:MM）", date_from_datetime_parsing: "日期格式不对",
  ip_any_address: "应为 IP 地址", json_invalid: "请求内容不是有效的 JSON",
};

let lang = localStorage.getItem("hw_lang") === "en" ? "en" : "zh";
const listeners = new Set();

export function getLang() {
  return lang;
}

export function locale() {
  return lang === "en" ? "en-GB" : "zh-CN";
}

export function t(key) {
  return (MESSAGES[lang] && MESSAGES[lang][key]) || MESSAGES.zh[key] || key;
}

/** A message with its {name} placeholders filled from `values` (unknown ones stay as they are). */
export function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

/** One validation problem ({msg, type, ctx}) in the current language. */
export function problemText(problem) {
  const zh = lang === "zh" && PROBLEMS_ZH[problem.type];
  return zh ? fill(zh, problem.ctx || {}) : problem.msg;
}

/** Add a view's strings: addMessages({zh: {...}, en: {...}}). A key must not be reused. */
export function addMessages(table) {
  for (const [code, strings] of Object.entries(table)) {
    MESSAGES[code] = Object.assign(MESSAGES[code] || {}, strings);
  }
}

export function applyI18n(root) {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  (root || document).querySelectorAll("[data-i18n]").forEach((node) => {
    node.textContent = t(node.dataset.i18n);
  });
  (root || document).querySelectorAll("[data-i18n-title]").forEach((node) => {
    node.title = t(node.dataset.i18nTitle);
  });
  const toggle = document.getElementById("lang-toggle");
  if (toggle) toggle.textContent = lang === "en" ? "中文" : "English";
}

/** Call `fn` after every language switch; returns a function that stops it. */
export function onLang(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function toggleLang() {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem("hw_lang", lang);
  applyI18n();
  listeners.forEach((fn) => fn(lang));
}

export function bindLangToggle() {
  applyI18n();
  const toggle = document.getElementById("lang-toggle");
  if (toggle) {
    toggle.addEventListener("click", (ev) => {
      ev.preventDefault();
      toggleLang();
    });
  }
}
