// The relay to the provincial centre (联网上报, operators and admins): the GB/T 28181 cascade
// (registration, keepalives, the upper platform's live sessions), pushed streams and the alarm
// upload's outbox, refreshed every few seconds. Admins also list the outbox's undelivered
// messages and send them now (audited). `#/relay`.
import { ApiError, api } from "../api.js";
import { el, fmtDateTime } from "../dom.js";
import { addMessages, fill, onLang, t } from "../i18n.js";

const REFRESH_MS = 5000;
const OUTBOX_STATES = ["pending", "failed", "rejected"];

addMessages({
  zh: {
    relay_title: "联网上报", relay_none: "未配置上级联网（cameras.yaml 的 relay 部分）",
    relay_gb: "国标级联（GB/T 28181）", relay_push: "视频推流", relay_upload: "告警与办件上报",
    relay_state: "状态", relay_server: "上级平台", relay_transport: "传输",
    relay_registered_at: "注册时间", relay_expires_at: "注册到期", relay_keepalives: "心跳 发送/失败",
    relay_alarms: "告警 已发/失败", relay_catalog: "目录应答", relay_malformed: "异常报文",
    relay_last_error: "最近错误", relay_next_retry: "下次重试", relay_sessions: "上级点播",
    relay_channel: "通道", relay_camera: "摄像机", relay_dest: "接收地址", relay_packets: "包数",
    relay_bytes: "字节", relay_since: "开始", relay_url: "推流地址", relay_upload_url: "上报地址", relay_protocol: "协议",
    relay_reconnects: "断线次数", relay_pending: "待发送", relay_failed: "发送失败",
    relay_rejected: "被拒收", relay_delivered: "已送达", relay_oldest: "最早待发",
    relay_last_success: "最近送达", relay_retry: "立即重发", relay_retried: "已安排 {n} 条立即重发",
    relay_messages: "未送达消息", relay_kind: "类型", relay_source: "来源", relay_attempts: "尝试次数",
    relay_created: "产生时间", relay_no_messages: "没有此类消息", relay_no_sessions: "暂无点播",
    relay_s_registered: "已注册", relay_s_registering: "注册中", relay_s_auth_failed: "认证失败",
    relay_s_offline: "离线", relay_s_stopped: "已停止", relay_s_pushing: "推流中",
    relay_s_connecting: "连接中", relay_s_waiting_keyframe: "等待关键帧", relay_s_reconnecting: "重连中",
    relay_s_no_stream: "无此码流", relay_s_idle: "空闲", relay_s_delivering: "发送中",
    relay_s_backing_off: "稍后重试", relay_s_failing: "发送失败",
  },
  en: {
    relay_title: "Relay", relay_none: "No relay is configured (relay: in cameras.yaml)",
    relay_gb: "GB/T 28181 cascade", relay_push: "Stream push", relay_upload: "Alarm and case upload",
    relay_state: "State", relay_server: "Upper platform", relay_transport: "Transport",
    relay_registered_at: "Registered", relay_expires_at: "Expires", relay_keepalives:
      "Keepalives sent/failed", relay_alarms: "Alarms sent/failed", relay_catalog: "Catalog answers",
    relay_malformed: "Malformed messages", relay_last_error: "Last error",
    relay_next_retry: "Next retry", relay_sessions: "Live sessions", relay_channel: "Channel",
    relay_camera: "Camera", relay_dest: "Sent to", relay_packets: "Packets", relay_bytes: "Bytes",
    relay_since: "Since", relay_url: "URL", relay_upload_url: "Webhook", relay_protocol: "Protocol",
    relay_reconnects: "Failures", relay_pending: "Pending", relay_failed: "Failed",
    relay_rejected: "Rejected", relay_delivered: "Delivered", relay_oldest: "Oldest pending",
    relay_last_success: "Last delivered", relay_retry: "Send now",
    relay_retried: "{n} message(s) will be sent now", relay_messages: "Undelivered messages",
    relay_kind: "Kind", relay_source: "Source", relay_attempts: "Attempts",
    relay_created: "Created", relay_no_messages: "No such messages",
    relay_no_sessions: "No live session", relay_s_registered: "registered",
    relay_s_registering: "registering", relay_s_auth_failed: "authentication failed",
    relay_s_offline: "offline", relay_s_stopped: "stopped", relay_s_pushing: "pushing",
    relay_s_connecting: "connecting", relay_s_waiting_keyframe: "waiting for a keyframe",
    relay_s_reconnecting: "reconnecting", relay_s_no_stream: "no such stream",
    relay_s_idle: "idle", relay_s_delivering: "delivering", relay_s_backing_off: "retrying later",
    relay_s_failing: "failing",
  },
});

const GOOD = new Set(["registered", "pushing", "idle", "delivering"]);

function stateLabel(state) {
  const text = t(`relay_s_${state}`);
  return el("span", { class: `pill ${GOOD.has(state) ? "ok" : "bad"}`, "data-state": state },
    text === `relay_s_${state}` ? state : text);
}

const when = (unix) => (unix ? fmtDateTime(unix) : "—");
const dash = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));

/** A two-column list of (label key, value) rows. */
function facts(rows) {
  return el("dl", { class: "relay-facts" }, ...rows.flatMap(([key, value]) => [
    el("dt", {}, t(key)), el("dd", {}, value instanceof Node ? value : dash(value))]));
}

function table(id, heads, rows, emptyKey) {
  const body = rows.length ? rows : [el("tr", {}, el("td", { colspan: heads.length,
    class: "muted" }, t(emptyKey)))];
  return el("table", { class: "table relay-table", id },
    el("thead", {}, el("tr", {}, ...heads.map((key) => el("th", { scope: "col" }, t(key))))),
    el("tbody", {}, ...body));
}

function gbSection(gb) {
  const sessions = gb.sessions.map((s) => el("tr", { "data-channel": s.channel },
    el("td", {}, s.channel), el("td", {}, s.camera), el("td", {}, `${s.dest} (${s.transport})`),
    el("td", {}, dash(s.stats.packets)), el("td", {}, dash(s.stats.bytes)),
    el("td", {}, when(s.stats.started_at || s.created_at))));
  return el("section", { class: "relay-part", id: "relay-gb" }, el("h3", {}, t("relay_gb")),
    facts([["relay_state", stateLabel(gb.state)], ["relay_server", gb.server],
      ["relay_transport", gb.transport.toUpperCase()],
      ["relay_registered_at", when(gb.registered_at)], ["relay_expires_at", when(gb.expires_at)],
      ["relay_keepalives", `${gb.keepalives.sent} / ${gb.keepalives.failed}`],
      ["relay_alarms", `${gb.alarms.sent} / ${gb.alarms.failed}`],
      ["relay_catalog", gb.catalog_answers], ["relay_malformed", gb.malformed],
      ["relay_last_error", gb.last_error], ["relay_next_retry", when(gb.next_retry_at)]]),
    el("h4", {}, t("relay_sessions")),
    table("relay-sessions", ["relay_channel", "relay_camera", "relay_dest", "relay_packets",
      "relay_bytes", "relay_since"], sessions, "relay_no_sessions"));
}

function pushSection(targets) {
  const rows = targets.map((p) => el("tr", { "data-camera": p.camera },
    el("td", {}, `${p.camera} (${p.stream})`), el("td", { class: "relay-url" }, p.url),
    el("td", {}, p.protocol.toUpperCase()), el("td", {}, stateLabel(p.state)),
    el("td", {}, dash(p.packets)), el("td", {}, dash(p.bytes)), el("td", {}, dash(p.failures)),
    el("td", {}, when(p.connected_since)), el("td", { class: "relay-error" }, dash(p.last_error))));
  return el("section", { class: "relay-part", id: "relay-push" }, el("h3", {}, t("relay_push")),
    table("relay-push-table", ["relay_camera", "relay_url", "relay_protocol", "relay_state",
      "relay_packets", "relay_bytes", "relay_reconnects", "relay_since", "relay_last_error"],
    rows, "relay_none"));
}

function uploadSection(up) {
  const age = up.oldest_pending_age_s === null ? "—" : `${Math.round(up.oldest_pending_age_s)} s`;
  return el("section", { class: "relay-part", id: "relay-upload" },
    el("h3", {}, t("relay_upload")),
    facts([["relay_state", stateLabel(up.state)], ["relay_upload_url", up.url],
      ["relay_pending", up.pending], ["relay_failed", up.failed], ["relay_rejected", up.rejected],
      ["relay_delivered", up.delivered_total], ["relay_oldest", age],
      ["relay_last_success", when(up.last_success_at)], ["relay_last_error", up.last_error],
      ["relay_next_retry", when(up.next_attempt_at)]]));
}

/** Admins: the outbox's undelivered messages in one state, and "send now". */
function outboxPanel(onRetried) {
  const list = el("div", { id: "relay-messages" });
  const status = el("p", { id: "relay-outbox-status", role: "status" });
  const picker = el("select", { id: "relay-outbox-state", "aria-label": t("relay_state") },
    ...OUTBOX_STATES.map((s) => el("option", { value: s }, t(`relay_${s}`))));
  async function load() {
    try {
      const { items } = await api("/api/relay/outbox", { query: { state: picker.value, limit: 50 } });
      list.replaceChildren(table("relay-outbox", ["relay_created", "relay_source", "relay_kind",
        "relay_attempts", "relay_last_error"], items.map((m) => el("tr",
        { "data-message": m.message_id }, el("td", {}, when(m.created_at)),
        el("td", {}, m.source), el("td", {}, m.kind), el("td", {}, dash(m.attempts)),
        el("td", { class: "relay-error" }, dash(m.last_error)))), "relay_no_messages"));
    } catch (err) {
      list.replaceChildren(el("p", { class: "error" },
        err instanceof ApiError ? err.lines().join("; ") : String(err)));
    }
  }
  picker.addEventListener("change", load);
  const retry = el("button", { type: "button", id: "relay-retry", class: "primary",
    onclick: async () => {
      try {
        const { rescheduled } = await api("/api/relay/outbox/retry", { method: "POST" });
        status.textContent = fill(t("relay_retried"), { n: rescheduled });
        onRetried();
        load();
      } catch (err) {
        status.textContent = err instanceof ApiError ? err.lines().join("; ") : String(err);
      }
    } }, t("relay_retry"));
  load();
  return { node: el("section", { class: "relay-part", id: "relay-outbox-panel" },
    el("h4", {}, t("relay_messages")), el("div", { class: "relay-tools" }, picker, retry),
    status, list), load };
}

export default async function mount(root, ctx) {
  const body = el("div", { id: "relay-body" });
  const error = el("p", { class: "error", id: "relay-error", role: "alert" });
  let outbox = null;
  let last = null;

  function draw() {
    root.replaceChildren(el("h2", {}, t("relay_title")), error, body);
    if (!last) return;
    if (!last.configured) {
      body.replaceChildren(el("p", { class: "muted", id: "relay-none" }, t("relay_none")));
      return;
    }
    const parts = [];
    if (last.gb28181) parts.push(gbSection(last.gb28181));
    if (last.push.length) parts.push(pushSection(last.push));
    if (last.upload) {
      parts.push(uploadSection(last.upload));
      if (ctx.me.role === "admin") {
        outbox = outbox || outboxPanel(refresh);
        parts.push(outbox.node);
      }
    }
    body.replaceChildren(...parts);
  }

  async function refresh() {
    try {
      last = await api("/api/relay");
      error.textContent = "";
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.lines().join("; ") : String(err);
    }
    draw();
  }

  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  const stopLang = onLang(() => { outbox = null; draw(); });
  return () => { clearInterval(timer); stopLang(); };
}
