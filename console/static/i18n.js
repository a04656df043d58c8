"use strict";
// UI strings: Simplified Chinese by default, English on request (saved in localStorage).
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
  },
};
let LANG = localStorage.getItem("hw_lang") === "en" ? "en" : "zh";

function t(key) {
  return (MESSAGES[LANG] && MESSAGES[LANG][key]) || MESSAGES.zh[key] || key;
}

function applyI18n(root) {
  document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
  (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
  const toggle = document.getElementById("lang-toggle");
  if (toggle) toggle.textContent = LANG === "en" ? "中文" : "English";
}

document.addEventListener("DOMContentLoaded", () => {
  applyI18n();
  const toggle = document.getElementById("lang-toggle");
  if (toggle) {
    toggle.addEventListener("click", (ev) => {
      ev.preventDefault();
      LANG = LANG === "en" ? "zh" : "en";
      localStorage.setItem("hw_lang", LANG);
      applyI18n();
      document.dispatchEvent(new Event("hw-lang"));
    });
  }
});
