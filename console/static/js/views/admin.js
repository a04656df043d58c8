// Configuration (配置管理), admins only: cameras, windows, the schedule and a zone editor, all
// written to cameras.yaml through /api/admin/* (comments in the file are kept by the server).
// Every save names the file version it was based on; the server refuses a stale one (409), and
// refuses what `hallwatch check-config` refuses (422, shown next to the form's fields).
import { api, ApiError } from "../api.js";
import { el } from "../dom.js";
import { addMessages, onLang, problemText, t } from "../i18n.js";

addMessages({
  zh: {
    admin_title: "配置管理", admin_tab_cameras: "摄像机", admin_tab_windows: "窗口",
    admin_tab_schedule: "服务时间", admin_tab_zones: "区域编辑", admin_id: "编号",
    admin_name: "名称", admin_hall: "大厅", admin_url: "主码流地址", admin_sub_url: "子码流地址",
    admin_kind: "类型", admin_kind_window: "服务窗口", admin_kind_tender_site: "招投标现场",
    admin_fps: "分析帧率", admin_record: "录像", admin_department: "部门",
    admin_camera: "摄像机", admin_staff_on_duty: "在岗人数", admin_edit: "编辑",
    admin_delete: "删除", admin_add_camera: "新增摄像机", admin_add_window: "新增窗口",
    admin_none: "（无）", admin_yes: "是", admin_no: "否", admin_saved: "已保存并已生效",
    admin_saved_restart: "已保存，需重启服务后生效", admin_saved_partly: "已保存；部分更改需重启服务后生效",
    admin_unchanged: "没有更改", admin_stale: "配置文件已被他人修改，已重新加载，请重新操作",
    admin_not_running: "配置文件与正在运行的配置不同：需重启服务后生效",
    admin_confirm_delete: "确定删除 {id}？", admin_url_hint: "地址中的 *** 代表已保存的账号密码，不修改即保持不变",
    admin_timezone: "时区", admin_weekdays: "服务日", admin_hours: "服务时间",
    admin_lunch: "午休", admin_lunch_on: "有午休", admin_statutory: "使用法定节假日与调休",
    admin_holidays: "额外休息日（每行一个日期）", admin_workdays: "额外工作日（每行一个日期）",
    admin_day_1: "一", admin_day_2: "二", admin_day_3: "三", admin_day_4: "四", admin_day_5: "五",
    admin_day_6: "六", admin_day_7: "日", admin_new_zone_hint: "新窗口先用默认岗位区，请在区域编辑中调整",
    admin_layer_staff_zone: "岗位区", admin_layer_queue_zone: "排队区",
    admin_layer_customer_zone: "办事区", admin_layer_queue: "大厅排队区", admin_layer_site: "现场区域",
    admin_zone_help: "点击画面添加顶点；拖动顶点移动；右键或 Delete 键删除顶点；Enter 键添加顶点；方向键微调；Tab 切换顶点；Ctrl+Z 撤销",
    admin_undo: "撤销", admin_clear: "清空", admin_delete_vertex: "删除顶点", admin_revert: "放弃更改",
    admin_save_zones: "保存区域", admin_no_snapshot: "暂无画面（可照常编辑）", admin_points: "顶点",
    admin_unsaved: "未保存", admin_problems: "配置检查未通过：",
    admin_reason_camera_added: "新增摄像机", admin_reason_camera_removed: "删除摄像机",
    admin_reason_camera_stream: "摄像机码流或录像设置变更", admin_reason_recording: "录像设置变更",
    admin_reason_data_dir: "数据目录变更", admin_reason_cases: "办件设置变更", admin_reason_relay: "上级联网设置变更",
    admin_reason_case_calendar: "办件时限按新的服务日历计算",
    admin_reason_card_cameras: "办件红黄牌关联的窗口摄像机",
    admin_reason_engine_failed: "新的分析引擎未能启动", admin_reason_no_live_apply: "此服务不支持在线生效",
    admin_tab_queues: "大厅排队区", admin_tab_site_zones: "招投标现场区域", admin_tab_thresholds: "告警阈值",
    admin_add_queue: "新增排队区", admin_add_site_zone: "新增现场区域", admin_zone: "区域",
    admin_max_length: "拥堵排队人数", admin_max_wait_s: "最长等候时长（秒）",
    admin_default_of: "留空则使用告警阈值（当前 {value}）", admin_default: "默认",
    admin_restricted_hours: "禁入时段", admin_add_range: "添加时段", admin_remove_range: "删除此时段",
    admin_range_hint: "结束早于开始表示跨过午夜，例如 18:00–08:00",
    admin_max_persons: "人数上限", admin_max_persons_hint: "超过此人数即判定超员；留空表示不限",
    admin_zone_rule_hint: "至少设置禁入时段或人数上限之一",
    admin_draw_hint: "在画面上依次点击各顶点画出区域（至少 3 个）；也可用 Enter 键添加顶点、方向键移动",
    admin_no_tender_cameras: "还没有类型为“招投标现场”的摄像机：请先在“摄像机”中新增或修改",
    admin_new_layer: "新区域", admin_not_number: "请输入数字", admin_cancel: "取消",
    admin_thresholds_hint: "对所有摄像机生效；排队区可单独设置拥堵人数与最长等候时长",
    admin_unit_s: "秒", admin_unit_persons: "人", admin_th_range: "范围 {range} {unit}，默认 {default}",
    admin_th_absence_delay_s: "离岗判定时长",
    admin_th_absence_delay_s_help: "岗位区无人持续此时长即判定窗口空岗",
    admin_th_return_delay_s: "返岗确认时长",
    admin_th_return_delay_s_help: "工作人员回到岗位区持续此时长，空岗事件结束",
    admin_th_queue_max_length: "拥堵排队人数", admin_th_queue_max_length_help: "排队人数达到此值视为拥堵",
    admin_th_queue_min_duration_s: "拥堵持续时长",
    admin_th_queue_min_duration_s_help: "排队人数持续达到拥堵人数此时长才告警",
    admin_th_queue_clear_delay_s: "拥堵解除时长",
    admin_th_queue_clear_delay_s_help: "排队人数低于拥堵人数持续此时长，拥堵事件结束",
    admin_th_queue_confirm_s: "排队确认时长", admin_th_queue_confirm_s_help: "在排队区停留此时长才计为排队",
    admin_th_queue_exit_grace_s: "离开容忍时长",
    admin_th_queue_exit_grace_s_help: "离开画面短于此时长仍算同一次等候",
    admin_th_queue_max_wait_s: "最长等候时长",
    admin_th_queue_max_wait_s_help: "有人等候超过此时长即告警（等候超时）",
    admin_th_intrusion_delay_s: "闯入判定时长",
    admin_th_intrusion_delay_s_help: "禁入时段区域内有人持续此时长即判定闯入",
    admin_th_overcrowd_delay_s: "超员判定时长",
    admin_th_overcrowd_delay_s_help: "区域人数超过上限持续此时长即判定超员",
    admin_th_site_clear_delay_s: "区域事件解除时长",
    admin_th_site_clear_delay_s_help: "闯入或超员的条件消失持续此时长，事件结束",
  },
  en: {
    admin_title: "Configuration", admin_tab_cameras: "Cameras", admin_tab_windows: "Windows",
    admin_tab_schedule: "Schedule", admin_tab_zones: "Zone editor", admin_id: "Id",
    admin_name: "Name", admin_hall: "Hall", admin_url: "Main stream URL", admin_sub_url: "Sub-stream URL",
    admin_kind: "Kind", admin_kind_window: "service window", admin_kind_tender_site: "tender site",
    admin_fps: "Analysis fps", admin_record: "Record", admin_department: "Department",
    admin_camera: "Camera", admin_staff_on_duty: "Staff on duty", admin_edit: "Edit",
    admin_delete: "Delete", admin_add_camera: "Add camera", admin_add_window: "Add window",
    admin_none: "(none)", admin_yes: "yes", admin_no: "no", admin_saved: "Saved and in effect",
    admin_saved_restart: "Saved; takes effect after a service restart",
    admin_saved_partly: "Saved; some changes take effect after a service restart",
    admin_unchanged: "Nothing changed",
    admin_stale: "Someone else changed the file; it was reloaded, please make the change again",
    admin_not_running: "The file differs from the running configuration: restart the service",
    admin_confirm_delete: "Delete {id}?",
    admin_url_hint: "*** stands for the stored user and password; leave it to keep them",
    admin_timezone: "Time zone", admin_weekdays: "Service days", admin_hours: "Service hours",
    admin_lunch: "Lunch break", admin_lunch_on: "has a lunch break",
    admin_statutory: "Use statutory holidays and make-up days",
    admin_holidays: "Extra days off (one date per line)",
    admin_workdays: "Extra working days (one date per line)",
    admin_day_1: "Mon", admin_day_2: "Tue", admin_day_3: "Wed", admin_day_4: "Thu",
    admin_day_5: "Fri", admin_day_6: "Sat", admin_day_7: "Sun",
    admin_new_zone_hint: "A new window starts with a default staff zone: adjust it in the zone editor",
    admin_layer_staff_zone: "staff zone", admin_layer_queue_zone: "queue zone",
    admin_layer_customer_zone: "customer zone", admin_layer_queue: "hall queue",
    admin_layer_site: "site zone",
    admin_zone_help: "Click the picture to add a vertex; drag to move; right-click or Delete removes"
      + " one; Enter adds one; arrow keys nudge; Tab walks the vertices; Ctrl+Z undoes",
    admin_undo: "Undo", admin_clear: "Clear", admin_delete_vertex: "Delete vertex",
    admin_revert: "Discard changes", admin_save_zones: "Save zones",
    admin_no_snapshot: "No picture yet (editing still works)", admin_points: "vertices",
    admin_unsaved: "unsaved", admin_problems: "The configuration check failed:",
    admin_reason_camera_added: "camera added", admin_reason_camera_removed: "camera removed",
    admin_reason_camera_stream: "camera stream or recording settings changed",
    admin_reason_recording: "recording settings changed",
    admin_reason_data_dir: "data directory changed", admin_reason_cases: "case settings changed",
    admin_reason_relay: "relay settings changed",
    admin_reason_case_calendar: "case deadlines use the new calendar",
    admin_reason_card_cameras: "case cards follow a window's camera",
    admin_reason_engine_failed: "the new analysis engine did not start",
    admin_reason_no_live_apply: "this service cannot apply changes live",
    admin_tab_queues: "Hall queues", admin_tab_site_zones: "Tender-site zones",
    admin_tab_thresholds: "Thresholds", admin_add_queue: "Add queue",
    admin_add_site_zone: "Add site zone", admin_zone: "Zone",
    admin_max_length: "Build-up length", admin_max_wait_s: "Longest wait (s)",
    admin_default_of: "Empty: the threshold applies (now {value})", admin_default: "default",
    admin_restricted_hours: "Restricted hours", admin_add_range: "Add hours",
    admin_remove_range: "Remove these hours",
    admin_range_hint: "An end before the start crosses midnight, e.g. 18:00–08:00",
    admin_max_persons: "Most persons",
    admin_max_persons_hint: "More people than this is overcrowding; empty: no limit",
    admin_zone_rule_hint: "Set restricted hours, most persons or both",
    admin_draw_hint: "Click the picture at each corner of the zone (3 or more); Enter adds a vertex"
      + " and arrow keys move it",
    admin_no_tender_cameras: "No camera of kind 'tender site' yet: add or change one under Cameras",
    admin_new_layer: "new zone", admin_not_number: "Enter a number", admin_cancel: "Cancel",
    admin_thresholds_hint: "For every camera; a hall queue may set its own build-up length and"
      + " longest wait",
    admin_unit_s: "s", admin_unit_persons: "persons",
    admin_th_range: "range {range} {unit}, default {default}",
    admin_th_absence_delay_s: "Absence delay",
    admin_th_absence_delay_s_help: "Staff absent this long ⇒ counter vacant event",
    admin_th_return_delay_s: "Return delay",
    admin_th_return_delay_s_help: "Staff back this long ⇒ the vacancy event ends",
    admin_th_queue_max_length: "Queue build-up length",
    admin_th_queue_max_length_help: "Queue length that counts as a build-up",
    admin_th_queue_min_duration_s: "Build-up duration",
    admin_th_queue_min_duration_s_help: "How long the queue must stay that long",
    admin_th_queue_clear_delay_s: "Build-up clear delay",
    admin_th_queue_clear_delay_s_help: "Queue shorter this long ⇒ the build-up ends",
    admin_th_queue_confirm_s: "Queue confirm time",
    admin_th_queue_confirm_s_help: "In the queue zone this long ⇒ counted as queuing",
    admin_th_queue_exit_grace_s: "Queue exit grace",
    admin_th_queue_exit_grace_s_help: "Out of sight shorter than this keeps one wait",
    admin_th_queue_max_wait_s: "Longest wait",
    admin_th_queue_max_wait_s_help: "A person waiting this long ⇒ long wait event",
    admin_th_intrusion_delay_s: "Intrusion delay",
    admin_th_intrusion_delay_s_help: "Someone in a restricted zone this long ⇒ intrusion",
    admin_th_overcrowd_delay_s: "Overcrowding delay",
    admin_th_overcrowd_delay_s_help: "Over the most persons this long ⇒ overcrowded",
    admin_th_site_clear_delay_s: "Site clear delay",
    admin_th_site_clear_delay_s_help: "Condition gone this long ⇒ a zone event ends",
  },
});

const TABS = ["cameras", "windows", "queues", "site_zones", "schedule", "thresholds", "zones"];
const LAYER_COLOURS = {
  staff_zone: "#3ecf6e", queue_zone: "#ffb020", customer_zone: "#4aa3ff", queue: "#ff8c42",
  site: "#ff5a5a",
};
const DEFAULT_STAFF_ZONE = [[0.3, 0.55], [0.7, 0.55], [0.7, 0.95], [0.3, 0.95]];
const NUDGE = 0.005;

// --- shared: state, answers, field errors -------------------------------------------------

const state = { config: null, message: null, tab: "cameras" };

async function reload() {
  state.config = await api("/api/admin/config");
  return state.config;
}

function reasonText(reason) {
  return `${t(`admin_reason_${reason.code}`)}${reason.target ? ` (${reason.target})` : ""}`;
}

function showResult(box, answer) {
  if (!answer.changed.length) {
    box.replaceChildren(el("p", { class: "admin-ok" }, t("admin_unchanged")));
    return;
  }
  const key = !answer.restart_required ? "admin_saved"
    : answer.applied ? "admin_saved_partly" : "admin_saved_restart";
  box.replaceChildren(el("div", {},
    el("p", { class: answer.restart_required ? "admin-warn" : "admin-ok" }, t(key)),
    answer.reasons.length ? el("ul", {}, ...answer.reasons.map((r) => el("li", {}, reasonText(r))))
      : null));
}

/** Where a config check's problem is: "file:line: key" (its reason follows). */
function located(p) {
  return `${p.file}${p.line == null ? "" : `:${p.line}`}: ${p.key || "(top level)"}`;
}

/** Show an ApiError: field problems beside their inputs in `form`, the rest in `box`. */
async function showError(box, form, err) {
  form?.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
  if (err instanceof ApiError && err.status === 409) {
    await reload();
    box.replaceChildren(el("p", { class: "error" }, t("admin_stale")));
    return;
  }
  if (!(err instanceof ApiError) || !Array.isArray(err.detail)) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
    return;
  }
  err.detail.forEach((p) => {
    const name = p.loc && p.loc[0] === "body" ? p.loc[1] : null;
    const slot = name && form?.querySelector(`.field-error[data-field="${name}"]`);
    if (slot) slot.textContent = problemText(p);
  });
  const lines = err.detail.map((p) =>
    `${p.file ? located(p) : (p.loc || []).slice(1).join(".")}: ${problemText(p)}`);
  box.replaceChildren(el("p", { class: "error" }, t("admin_problems")),
    el("ul", { class: "error admin-problems" }, ...lines.map((line) => el("li", {}, line))));
}

async function send(box, form, path, method, body) {
  box.replaceChildren(el("p", { class: "muted" }, t("loading"))); // no stale answer meanwhile
  try {
    const answer = await api(path, { method, body: { version: state.config.version, ...body } });
    await reload(); // before the answer shows: what is done next starts from the saved file
    showResult(box, answer);
    return answer;
  } catch (err) {
    await showError(box, form, err);
    return null;
  }
}

function field(name, label, input) {
  input.id = input.id || `admin-f-${name}`;
  input.name = name;
  return el("div", { class: "admin-field" },
    el("label", { for: input.id }, t(label)), input,
    el("span", { class: "field-error", "data-field": name, role: "alert" }));
}

function textInput(value, attrs = {}) {
  return el("input", { type: "text", value: value ?? "", ...attrs });
}

function select(options, value) {
  const node = el("select", {}, ...options.map(([v, label]) => el("option", { value: v }, label)));
  node.value = value ?? "";
  return node;
}

function confirmDelete(id) {
  return window.confirm(t("admin_confirm_delete").replace("{id}", id));
}

// --- cameras ---------------------------------------------------------------------------------

function cameraForm(camera, box, rerender) {
  const site = state.config.site;
  const isNew = !camera;
  const c = camera || { kind: "window", analysis_fps: 1, record: true };
  const inputs = {
    id: textInput(c.id, { disabled: !isNew, required: true }),
    name: textInput(c.name, { required: true }),
    hall: select([["", t("admin_none")], ...site.halls.map((h) => [h.id, `${h.name} (${h.id})`])], c.hall),
    url: textInput(c.url, { required: true, size: 48, "aria-describedby": "admin-url-hint" }),
    sub_url: textInput(c.sub_url, { size: 48 }),
    kind: select([["window", t("admin_kind_window")], ["tender_site", t("admin_kind_tender_site")]], c.kind),
    analysis_fps: el("input", { type: "number", step: "0.1", min: "0.1", max: "10", value: c.analysis_fps }),
    record: el("input", { type: "checkbox", checked: c.record }),
  };
  const form = el("form", { class: "admin-form", id: "camera-form" },
    field("id", "admin_id", inputs.id), field("name", "admin_name", inputs.name),
    field("hall", "admin_hall", inputs.hall), field("url", "admin_url", inputs.url),
    el("p", { class: "muted", id: "admin-url-hint" }, t("admin_url_hint")),
    field("sub_url", "admin_sub_url", inputs.sub_url), field("kind", "admin_kind", inputs.kind),
    field("analysis_fps", "admin_fps", inputs.analysis_fps),
    field("record", "admin_record", inputs.record),
    el("div", { class: "admin-actions" }, el("button", { type: "submit" }, t("save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      name: inputs.name.value, hall: inputs.hall.value || null, url: inputs.url.value,
      sub_url: inputs.sub_url.value || null, kind: inputs.kind.value,
      analysis_fps: Number(inputs.analysis_fps.value), record: inputs.record.checked,
    };
    const answer = isNew
      ? await send(box, form, "/api/admin/cameras", "POST", { id: inputs.id.value, ...body })
      : await send(box, form, `/api/admin/cameras/${encodeURIComponent(c.id)}`, "PATCH", body);
    if (answer) rerender();
  });
  return form;
}

function renderCameras(panel, box) {
  const rerender = () => state.tab === "cameras" && renderCameras(panel, box); // unless left meanwhile
  const slot = el("div");
  const rows = state.config.site.cameras.map((c) => el("tr", { "data-camera": c.id },
    el("td", {}, c.id), el("td", {}, c.name), el("td", {}, c.hall || "—"),
    el("td", { class: "admin-url" }, c.url), el("td", {}, t(`admin_kind_${c.kind}`)),
    el("td", {}, c.record ? t("admin_yes") : t("admin_no")),
    el("td", {},
      el("button", { type: "button", onclick: () => slot.replaceChildren(cameraForm(c, box, rerender)) }, t("admin_edit")),
      el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirmDelete(c.id)) return;
        const path = `/api/admin/cameras/${encodeURIComponent(c.id)}?version=${state.config.version}`;
        if (await send(box, null, path, "DELETE")) rerender();
      } }, t("admin_delete")))));
  panel.replaceChildren(
    el("table", { class: "table" }, el("thead", {}, el("tr", {},
      ...["admin_id", "admin_name", "admin_hall", "admin_url", "admin_kind", "admin_record"].map(
        (k) => el("th", {}, t(k))), el("th"))), el("tbody", {}, ...rows)),
    el("div", { class: "admin-actions" }, el("button", { type: "button", id: "add-camera",
      onclick: () => slot.replaceChildren(cameraForm(null, box, rerender)) }, t("admin_add_camera"))),
    slot);
}

// --- windows ---------------------------------------------------------------------------------

function windowForm(win, box, rerender) {
  const isNew = !win;
  const w = win || { staff_on_duty: 1 };
  const cameras = state.config.site.cameras.map((c) => [c.id, `${c.name} (${c.id})`]);
  const inputs = {
    id: textInput(w.id, { disabled: !isNew, required: true }),
    name: textInput(w.name, { required: true }),
    department: textInput(w.department, { required: true }),
    camera: select(cameras, w.camera || (cameras[0] || [""])[0]),
    staff_on_duty: el("input", { type: "number", min: "1", max: "10", value: w.staff_on_duty }),
  };
  const form = el("form", { class: "admin-form", id: "window-form" },
    ...Object.entries(inputs).map(([name, input]) => field(name, `admin_${name === "camera" ? "camera" : name}`, input)),
    el("span", { class: "field-error", "data-field": "staff_zone", role: "alert" }),
    isNew ? el("p", { class: "muted" }, t("admin_new_zone_hint")) : null,
    el("div", { class: "admin-actions" }, el("button", { type: "submit" }, t("save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: inputs.name.value, department: inputs.department.value,
      camera: inputs.camera.value, staff_on_duty: Number(inputs.staff_on_duty.value) };
    const answer = isNew
      ? await send(box, form, "/api/admin/windows", "POST",
        { id: inputs.id.value, ...body, staff_zone: DEFAULT_STAFF_ZONE })
      : await send(box, form, `/api/admin/windows/${encodeURIComponent(w.id)}`, "PATCH", body);
    if (answer) rerender();
  });
  return form;
}

function renderWindows(panel, box) {
  const rerender = () => state.tab === "windows" && renderWindows(panel, box); // unless left meanwhile
  const slot = el("div");
  const rows = state.config.site.windows.map((w) => el("tr", { "data-window": w.id },
    el("td", {}, w.id), el("td", {}, w.name), el("td", {}, w.department), el("td", {}, w.camera),
    el("td", {}, String(w.staff_on_duty)),
    el("td", {},
      el("button", { type: "button", onclick: () => slot.replaceChildren(windowForm(w, box, rerender)) }, t("admin_edit")),
      el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirmDelete(w.id)) return;
        const path = `/api/admin/windows/${encodeURIComponent(w.id)}?version=${state.config.version}`;
        if (await send(box, null, path, "DELETE")) rerender();
      } }, t("admin_delete")))));
  panel.replaceChildren(
    el("table", { class: "table" }, el("thead", {}, el("tr", {},
      ...["admin_id", "admin_name", "admin_department", "admin_camera", "admin_staff_on_duty"].map(
        (k) => el("th", {}, t(k))), el("th"))), el("tbody", {}, ...rows)),
    el("div", { class: "admin-actions" }, el("button", { type: "button", id: "add-window",
      onclick: () => slot.replaceChildren(windowForm(null, box, rerender)) }, t("admin_add_window"))),
    slot);
}

// --- hall queues and tender-site zones: forms with their polygon drawn on the snapshot ------

let formEditor = null; // the zone editor inside the open queue / site-zone form

function closeFormEditor() {
  formEditor?.resize?.disconnect();
  formEditor = null;
}

/** A zone editor in `root` for one polygon (`points`, replacing layer `exclude` on screen). */
function drawingEditor(root, box, { kind, label, points, exclude, camera }) {
  closeFormEditor();
  const draft = { key: "draft", kind, label, points: points.map((p) => [...p]), exclude,
    saved: JSON.stringify(points) };
  formEditor = new ZoneEditor(root, box, { draft, prefix: "form-zone" });
  formEditor.mount(camera);
  return formEditor;
}

/** A number input's value: null when empty, NaN when the browser could not read it. */
function numberOf(input) {
  if (input.validity.badInput) return Number.NaN;
  return input.value.trim() === "" ? null : Number(input.value);
}

/** Refuse inputs that hold no number before asking the server; true when all are readable. */
function readable(form, inputs) {
  const bad = Object.entries(inputs).filter(([, input]) => Number.isNaN(numberOf(input)));
  bad.forEach(([name]) => {
    const slot = form.querySelector(`.field-error[data-field="${name}"]`);
    if (slot) slot.textContent = t("admin_not_number");
  });
  return !bad.length;
}

function numberInput(value, attrs = {}) {
  return el("input", { type: "number", value: value ?? "", ...attrs });
}

function errorSlot(name) {
  return el("span", { class: "field-error", "data-field": name, role: "alert" });
}

function formButtons(slot) {
  return el("div", { class: "admin-actions" }, el("button", { type: "submit" }, t("save")),
    el("button", { type: "button", class: "admin-cancel", onclick: () => {
      closeFormEditor();
      slot.replaceChildren();
    } }, t("admin_cancel")));
}

function zoneFieldset(editorRoot) {
  return el("fieldset", { class: "admin-zone" }, el("legend", {}, t("admin_zone")), editorRoot,
    errorSlot("zone"));
}

function queueForm(queue, box, slot, rerender) {
  const isNew = !queue;
  const q = queue || {};
  const site = state.config.site;
  const cameras = site.cameras.map((c) => [c.id, `${c.name} (${c.id})`]);
  const limits = site.thresholds;
  const inputs = {
    id: textInput(q.id, { disabled: !isNew, required: true }),
    name: textInput(q.name, { required: true }),
    camera: select(cameras, q.camera || (cameras[0] || [""])[0]),
    max_length: numberInput(q.max_length, { min: "1", max: "200", step: "1",
      placeholder: String(limits.queue_max_length), "aria-describedby": "admin-queue-length-hint" }),
    max_wait_s: numberInput(q.max_wait_s, { min: "1", max: "86400", step: "any",
      placeholder: String(limits.queue_max_wait_s), "aria-describedby": "admin-queue-wait-hint" }),
  };
  const hint = (id, value) => el("p", { class: "muted admin-hint", id },
    t("admin_default_of").replace("{value}", value));
  const editorRoot = el("div", { class: "zone-embedded" });
  const form = el("form", { class: "admin-form", id: "queue-form", novalidate: true },
    field("id", "admin_id", inputs.id), field("name", "admin_name", inputs.name),
    field("camera", "admin_camera", inputs.camera),
    field("max_length", "admin_max_length", inputs.max_length),
    hint("admin-queue-length-hint", limits.queue_max_length),
    field("max_wait_s", "admin_max_wait_s", inputs.max_wait_s),
    hint("admin-queue-wait-hint", `${limits.queue_max_wait_s} ${t("admin_unit_s")}`),
    zoneFieldset(editorRoot), errorSlot("queues"), formButtons(slot));
  const editor = drawingEditor(editorRoot, box, {
    kind: "queue", label: `${q.name || t("admin_new_layer")} · ${t("admin_layer_queue")}`,
    points: q.zone || [], exclude: isNew ? null : `queue:${q.id}`, camera: inputs.camera.value,
  });
  inputs.camera.addEventListener("change", () => editor.pick(inputs.camera.value));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    form.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
    const numbers = { max_length: inputs.max_length, max_wait_s: inputs.max_wait_s };
    if (!readable(form, numbers)) return;
    const body = { name: inputs.name.value, camera: inputs.camera.value,
      max_length: numberOf(inputs.max_length), max_wait_s: numberOf(inputs.max_wait_s) };
    const points = editor.draft.points;
    if (isNew || JSON.stringify(points) !== editor.draft.saved) body.zone = points;
    const answer = isNew
      ? await send(box, form, "/api/admin/queues", "POST", { id: inputs.id.value, ...body })
      : await send(box, form, `/api/admin/queues/${encodeURIComponent(q.id)}`, "PATCH", body);
    if (answer) rerender();
  });
  return form;
}

function openForm(slot, make) {
  const form = make();
  slot.replaceChildren(form);
  form.querySelector("input:not([disabled]), select")?.focus();
}

function deleteButton(id, path, box, rerender) {
  return el("button", { type: "button", class: "danger", "data-delete": id, onclick: async () => {
    if (!confirmDelete(id)) return;
    if (await send(box, null, `${path}?version=${state.config.version}`, "DELETE")) rerender();
  } }, t("admin_delete"));
}

function renderQueues(panel, box) {
  const rerender = () => state.tab === "queues" && renderQueues(panel, box); // unless left meanwhile
  closeFormEditor();
  const slot = el("div");
  const limits = state.config.site.thresholds;
  const own = (value, fallback) => (value ?? `${fallback} (${t("admin_default")})`);
  const rows = state.config.site.queues.map((q) => el("tr", { "data-queue": q.id },
    el("td", {}, q.id), el("td", {}, q.name), el("td", {}, q.camera),
    el("td", {}, own(q.max_length, limits.queue_max_length)),
    el("td", {}, own(q.max_wait_s, limits.queue_max_wait_s)),
    el("td", {},
      el("button", { type: "button",
        onclick: () => openForm(slot, () => queueForm(q, box, slot, rerender)) }, t("admin_edit")),
      deleteButton(q.id, `/api/admin/queues/${encodeURIComponent(q.id)}`, box, rerender))));
  panel.replaceChildren(
    el("table", { class: "table", id: "queue-table" }, el("thead", {}, el("tr", {},
      ...["admin_id", "admin_name", "admin_camera", "admin_max_length", "admin_max_wait_s"].map(
        (k) => el("th", {}, t(k))), el("th"))), el("tbody", {}, ...rows)),
    el("div", { class: "admin-actions" }, el("button", { type: "button", id: "add-queue",
      onclick: () => openForm(slot, () => queueForm(null, box, slot, rerender)) }, t("admin_add_queue"))),
    slot);
}

function rangeRow(range) {
  const time = (v) => el("input", { type: "time", value: hhmm(v), required: true });
  const row = el("div", { class: "admin-range" }, time(range.start), " – ", time(range.end));
  row.append(el("button", { type: "button", class: "danger", "aria-label": t("admin_remove_range"),
    title: t("admin_remove_range"), onclick: () => row.remove() }, "×"));
  return row;
}

function siteZoneForm(camera, zone, box, slot, rerender) {
  const isNew = !zone;
  const z = zone || { restricted_hours: [] };
  const tender = state.config.site.cameras.filter((c) => c.kind === "tender_site");
  const inputs = {
    camera: select(tender.map((c) => [c.id, `${c.name} (${c.id})`]), camera || tender[0]?.id),
    id: textInput(z.id, { disabled: !isNew, required: true }),
    name: textInput(z.name, { required: true }),
    max_persons: numberInput(z.max_persons, { min: "0", max: "500", step: "1",
      "aria-describedby": "admin-persons-hint" }),
  };
  inputs.camera.disabled = !isNew; // the camera is part of the zone's address
  const ranges = el("div", { class: "admin-ranges" }, ...z.restricted_hours.map(rangeRow));
  const editorRoot = el("div", { class: "zone-embedded" });
  const form = el("form", { class: "admin-form", id: "site-zone-form", novalidate: true },
    field("camera", "admin_camera", inputs.camera), field("id", "admin_id", inputs.id),
    field("name", "admin_name", inputs.name),
    el("fieldset", { class: "admin-hours" }, el("legend", {}, t("admin_restricted_hours")), ranges,
      el("button", { type: "button", id: "add-range",
        onclick: () => {
          const row = rangeRow({ start: "18:00", end: "08:00" });
          ranges.append(row);
          row.querySelector("input").focus();
        } }, t("admin_add_range")),
      el("p", { class: "muted admin-hint" }, t("admin_range_hint")), errorSlot("restricted_hours")),
    field("max_persons", "admin_max_persons", inputs.max_persons),
    el("p", { class: "muted admin-hint", id: "admin-persons-hint" }, t("admin_max_persons_hint")),
    el("p", { class: "muted admin-hint" }, t("admin_zone_rule_hint")),
    errorSlot("cameras"), // the zone as a whole (no rule), as check-config places it
    zoneFieldset(editorRoot), formButtons(slot));
  const editor = drawingEditor(editorRoot, box, {
    kind: "site", label: `${z.name || t("admin_new_layer")} · ${t("admin_layer_site")}`,
    points: z.zone || [], exclude: isNew ? null : `site:${z.id}`, camera: inputs.camera.value,
  });
  inputs.camera.addEventListener("change", () => editor.pick(inputs.camera.value));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    form.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
    if (!readable(form, { max_persons: inputs.max_persons })) return;
    const hours = [...ranges.querySelectorAll(".admin-range")].map((row) => {
      const [start, end] = row.querySelectorAll("input");
      return { start: start.value, end: end.value };
    });
    const body = { name: inputs.name.value, restricted_hours: hours.length ? hours : null,
      max_persons: numberOf(inputs.max_persons) };
    const points = editor.draft.points;
    if (isNew || JSON.stringify(points) !== editor.draft.saved) body.zone = points;
    const base = `/api/admin/cameras/${encodeURIComponent(inputs.camera.value)}/zones`;
    const answer = isNew
      ? await send(box, form, base, "POST", { id: inputs.id.value, ...body })
      : await send(box, form, `${base}/${encodeURIComponent(z.id)}`, "PATCH", body);
    if (answer) rerender();
  });
  return form;
}

function renderSiteZones(panel, box) {
  const rerender = () => state.tab === "site_zones" && renderSiteZones(panel, box); // unless left meanwhile
  closeFormEditor();
  const slot = el("div");
  const tender = state.config.site.cameras.filter((c) => c.kind === "tender_site");
  const hours = (z) => z.restricted_hours.map((r) => `${hhmm(r.start)}–${hhmm(r.end)}`).join(", ") || "—";
  const rows = tender.flatMap((c) => c.zones.map((z) => el("tr", { "data-zone": `${c.id}/${z.id}` },
    el("td", {}, c.id), el("td", {}, z.id), el("td", {}, z.name), el("td", {}, hours(z)),
    el("td", {}, z.max_persons ?? "—"),
    el("td", {},
      el("button", { type: "button",
        onclick: () => openForm(slot, () => siteZoneForm(c.id, z, box, slot, rerender)) }, t("admin_edit")),
      deleteButton(z.id, `/api/admin/cameras/${encodeURIComponent(c.id)}/zones/${encodeURIComponent(z.id)}`,
        box, rerender)))));
  panel.replaceChildren(...[
    el("table", { class: "table", id: "site-zone-table" }, el("thead", {}, el("tr", {},
      ...["admin_camera", "admin_id", "admin_name", "admin_restricted_hours", "admin_max_persons"].map(
        (k) => el("th", {}, t(k))), el("th"))), el("tbody", {}, ...rows)),
    tender.length ? null : el("p", { class: "muted", id: "admin-no-tender" }, t("admin_no_tender_cameras")),
    el("div", { class: "admin-actions" }, el("button", { type: "button", id: "add-site-zone",
      disabled: !tender.length,
      onclick: () => openForm(slot, () => siteZoneForm(null, null, box, slot, rerender)) }, t("admin_add_site_zone"))),
    slot].filter(Boolean));
}

// --- thresholds ------------------------------------------------------------------------------

/** The values that differ from the current ones (what a save sends), by name. */
export function changedValues(current, entered) {
  return Object.fromEntries(Object.entries(entered).filter(
    ([name, value]) => value !== null && value !== current[name]));
}

/** A threshold's form limits from the server's spec of the model field (ge / gt / le). */
function limitsOf(field) {
  const gt = field.gt !== undefined;
  return { unit: field.unit, min: gt ? field.gt : field.ge, max: field.le, gt,
    integer: field.integer, default: field.default };
}

function thresholdRow(name, value, field) {
  const spec = limitsOf(field || { unit: "s" });
  const unit = t(`admin_unit_${spec.unit}`);
  const input = numberInput(value, { id: `admin-th-${name}`, name, step: spec.integer ? "1" : "any",
    min: spec.min, max: spec.max, "data-gt": spec.gt ? "" : null,
    "aria-describedby": `admin-th-${name}-help` });
  const label = t(`admin_th_${name}`);
  const help = [t(`admin_th_${name}_help`)];
  if (spec.max !== undefined) {
    const range = spec.gt ? `> ${spec.min}, ≤ ${spec.max}` : `${spec.min}–${spec.max}`;
    help.push(t("admin_th_range").replace("{range}", range).replace("{unit}", unit)
      .replace("{default}", spec.default));
  }
  return el("div", { class: "admin-field admin-threshold", "data-threshold": name },
    el("label", { for: input.id }, label === `admin_th_${name}` ? name : label),
    el("span", { class: "admin-value" }, input, el("span", { class: "admin-unit" }, unit)),
    el("p", { class: "muted admin-hint", id: `admin-th-${name}-help` },
      `${help.join("；")} (${name})`),
    errorSlot(name));
}

function renderThresholds(panel, box) {
  const current = state.config.site.thresholds;
  const names = state.config.thresholds; // the server's list: every field, in the model's order
  const form = el("form", { class: "admin-form", id: "thresholds-form", novalidate: true },
    el("p", { class: "muted" }, t("admin_thresholds_hint")),
    ...names.map((name) => thresholdRow(name, current[name], state.config.threshold_fields[name])),
    el("div", { class: "admin-actions" }, el("button", { type: "submit" }, t("save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    form.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
    const inputs = Object.fromEntries(names.map((name) => [name, form.elements[name]]));
    if (!readable(form, inputs)) return;
    const entered = Object.fromEntries(names.map((name) => [name, numberOf(inputs[name])]));
    const values = changedValues(state.config.site.thresholds, entered);
    if (!Object.keys(values).length) {
      box.replaceChildren(el("p", { class: "admin-ok" }, t("admin_unchanged")));
      return;
    }
    await send(box, form, "/api/admin/thresholds", "PATCH", { values });
  });
  panel.replaceChildren(form);
}

// --- schedule --------------------------------------------------------------------------------

const hhmm = (value) => (value || "").slice(0, 5);
const dateList = (text) => text.split(/[\s,，]+/).map((s) => s.trim()).filter(Boolean);

function renderSchedule(panel, box) {
  const s = state.config.site.schedule;
  const days = [1, 2, 3, 4, 5, 6, 7].map((d) => el("label", { class: "admin-day" },
    el("input", { type: "checkbox", value: String(d), checked: s.weekdays.includes(d) }),
    t(`admin_day_${d}`)));
  const time = (v) => el("input", { type: "time", value: hhmm(v), required: true });
  const inputs = {
    timezone: textInput(s.timezone), start: time(s.hours.start), end: time(s.hours.end),
    lunchOn: el("input", { type: "checkbox", id: "admin-lunch-on", checked: !!s.lunch_break }),
    lunchStart: time(s.lunch_break?.start || "12:00"), lunchEnd: time(s.lunch_break?.end || "13:30"),
    statutory: el("input", { type: "checkbox", checked: s.statutory_calendar }),
    holidays: el("textarea", { rows: 4 }, s.holidays.join("\n")),
    workdays: el("textarea", { rows: 4 }, s.workdays.join("\n")),
  };
  const form = el("form", { class: "admin-form", id: "schedule-form" },
    field("timezone", "admin_timezone", inputs.timezone),
    el("fieldset", {}, el("legend", {}, t("admin_weekdays")), ...days,
      el("span", { class: "field-error", "data-field": "weekdays", role: "alert" })),
    el("fieldset", {}, el("legend", {}, t("admin_hours")), inputs.start, " – ", inputs.end,
      el("span", { class: "field-error", "data-field": "hours", role: "alert" })),
    el("fieldset", {}, el("legend", {}, t("admin_lunch")),
      el("label", {}, inputs.lunchOn, t("admin_lunch_on")), inputs.lunchStart, " – ", inputs.lunchEnd,
      el("span", { class: "field-error", "data-field": "lunch_break", role: "alert" }),
      el("span", { class: "field-error", "data-field": "schedule", role: "alert" })),
    el("label", {}, inputs.statutory, t("admin_statutory")),
    field("holidays", "admin_holidays", inputs.holidays),
    field("workdays", "admin_workdays", inputs.workdays),
    el("div", { class: "admin-actions" }, el("button", { type: "submit" }, t("save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await send(box, form, "/api/admin/schedule", "PATCH", {
      timezone: inputs.timezone.value,
      weekdays: days.map((d) => d.querySelector("input")).filter((i) => i.checked).map((i) => Number(i.value)),
      hours: { start: inputs.start.value, end: inputs.end.value },
      lunch_break: inputs.lunchOn.checked ? { start: inputs.lunchStart.value, end: inputs.lunchEnd.value } : null,
      statutory_calendar: inputs.statutory.checked,
      holidays: dateList(inputs.holidays.value), workdays: dateList(inputs.workdays.value),
    });
  });
  panel.replaceChildren(form);
}

// --- zone editor -----------------------------------------------------------------------------

/** Every polygon of a camera: windows' zones (even absent optional ones), queues, site zones. */
function layersOf(site, cameraId) {
  const layers = [];
  site.windows.filter((w) => w.camera === cameraId).forEach((w) => {
    ["staff_zone", "queue_zone", "customer_zone"].forEach((kind) => layers.push({
      key: `${w.id}:${kind}`, kind, label: `${w.name} · ${t(`admin_layer_${kind}`)}`,
      points: (w[kind] || []).map((p) => [...p]), save: { path: `/api/admin/windows/${encodeURIComponent(w.id)}`, field: kind },
    }));
  });
  site.queues.filter((q) => q.camera === cameraId).forEach((q) => layers.push({
    key: `queue:${q.id}`, kind: "queue", label: `${q.name} · ${t("admin_layer_queue")}`,
    points: q.zone.map((p) => [...p]), save: { path: `/api/admin/queues/${encodeURIComponent(q.id)}`, field: "zone" },
  }));
  const camera = site.cameras.find((c) => c.id === cameraId);
  (camera?.zones || []).forEach((z) => layers.push({
    key: `site:${z.id}`, kind: "site", label: `${z.name} · ${t("admin_layer_site")}`,
    points: z.zone.map((p) => [...p]),
    save: { path: `/api/admin/cameras/${encodeURIComponent(cameraId)}/zones/${encodeURIComponent(z.id)}`, field: "zone" },
  }));
  layers.forEach((layer) => { layer.saved = JSON.stringify(layer.points); });
  return layers;
}

const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
const svgNS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const node = document.createElementNS(svgNS, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  return node;
}

/** Where Enter puts a new vertex: halfway to the next one after `index` (the selected vertex,
 * else the last), beside a lone vertex, or in the middle of an empty frame. */
export function nextVertex(points, index) {
  if (!points.length) return { at: 0, point: [0.5, 0.5] };
  const i = index === null || index === undefined ? points.length - 1 : index;
  const [ax, ay] = points[i];
  if (points.length === 1) return { at: 1, point: [clamp(ax + 0.1), ay] };
  const [bx, by] = points[(i + 1) % points.length];
  return { at: i + 1, point: [clamp((ax + bx) / 2), clamp((ay + by) / 2)] };
}

/**
 * The polygon editor over a camera's snapshot. As the zone editor tab it edits every zone of
 * the chosen camera and saves the changed ones. Embedded in a queue or site-zone form
 * (`draft`), it edits that one polygon and shows the camera's other zones as context; the form
 * picks the camera (`pick`) and saves the draft's points with the item.
 */
class ZoneEditor {
  constructor(root, box, { draft = null, prefix = "zone" } = {}) {
    this.root = root;
    this.box = box;
    this.draft = draft; // {key, kind, label, points, exclude: the layer key it replaces}
    this.prefix = prefix;
    this.camera = null;
    this.layers = [];
    this.active = null;
    this.vertex = null; // selected vertex index in the active layer
    this.undo = [];
    this.drag = null;
  }

  get layer() {
    return this.layers.find((l) => l.key === this.active) || null;
  }

  id(name) {
    return `${this.prefix}-${name}`;
  }

  /** Build the editor; `camera` is the one to show first (the first camera by default). */
  mount(camera) {
    const cameras = state.config.site.cameras;
    this.list = el("div", { class: "zone-layers", role: "listbox", "aria-label": t("admin_tab_zones") });
    this.img = el("img", { id: this.id("snapshot"), alt: "" });
    this.placeholder = el("div", { class: "zone-placeholder", hidden: true }, t("admin_no_snapshot"));
    this.svg = svgEl("svg", { id: this.id("svg"), viewBox: "0 0 1600 900",
      tabindex: "0", role: "application", "aria-label": t("admin_zone_help") });
    this.stage = el("div", { class: "zone-stage" }, this.img, this.placeholder, this.svg);
    this.readout = el("p", { class: "muted zone-readout", "aria-live": "polite" });
    const button = (id, label, fn) => el("button", { type: "button", id: this.id(id), onclick: fn }, t(label));
    const tools = [button("undo", "admin_undo", () => this.doUndo()),
      button("delete-vertex", "admin_delete_vertex", () => this.deleteVertex()),
      button("clear", "admin_clear", () => this.clear())];
    if (this.draft) {
      const original = JSON.parse(this.draft.saved);
      tools.push(button("revert", "admin_revert", () => {
        this.remember();
        this.draft.points = original.map((p) => [...p]);
        this.vertex = null;
        this.render();
      }));
      this.root.replaceChildren(el("div", { class: "zone-toolbar" }, ...tools),
        el("p", { class: "muted" }, t("admin_draw_hint")),
        el("div", { class: "zone-body" }, this.stage, el("div", {}, this.list, this.readout)));
    } else {
      this.cameraSelect = select(cameras.map((c) => [c.id, `${c.name} (${c.id})`]), camera || cameras[0]?.id);
      this.cameraSelect.id = this.id("camera");
      this.cameraSelect.addEventListener("change", () => this.pick(this.cameraSelect.value));
      this.root.replaceChildren(
        el("div", { class: "zone-toolbar" }, el("label", { for: this.id("camera") }, t("admin_camera")),
          this.cameraSelect, ...tools,
          button("revert", "admin_revert", () => this.pick(this.camera)),
          el("button", { type: "button", id: this.id("save"), class: "primary", onclick: () => this.save() },
            t("admin_save_zones"))),
        el("p", { class: "muted" }, t("admin_zone_help")),
        el("div", { class: "zone-body" }, this.stage, el("div", {}, this.list, this.readout)));
    }
    this.bind();
    this.pick(this.cameraSelect ? this.cameraSelect.value : camera);
  }

  bind() {
    this.svg.addEventListener("pointerdown", (ev) => this.pointerDown(ev));
    this.svg.addEventListener("pointermove", (ev) => this.pointerMove(ev));
    this.svg.addEventListener("pointerup", () => { this.drag = null; });
    this.svg.addEventListener("contextmenu", (ev) => {
      ev.preventDefault();
      const index = ev.target.dataset?.index;
      if (index !== undefined) this.deleteVertex(Number(index));
    });
    this.svg.addEventListener("keydown", (ev) => this.key(ev));
    this.img.addEventListener("load", () => {
      this.placeholder.hidden = true;
      this.img.style.visibility = "";
      const ratio = this.img.naturalWidth / this.img.naturalHeight;
      this.stage.style.aspectRatio = `${this.img.naturalWidth} / ${this.img.naturalHeight}`;
      if (!this.draft) this.stage.style.maxWidth = `calc((100vh - 265px) * ${ratio})`; // whole frame in view
    });
    // the drawing's units are the stage's pixels: round vertices, undistorted labels
    this.resize = new ResizeObserver(() => this.renderSvg());
    this.resize.observe(this.stage);
    this.img.addEventListener("error", () => {
      this.placeholder.hidden = false;
      this.img.style.visibility = "hidden"; // no broken-image icon over the placeholder
    });
  }

  pick(cameraId) {
    this.camera = cameraId;
    this.layers = layersOf(state.config.site, cameraId);
    if (this.draft) { // the other zones are context, drawn but not editable
      this.layers = this.layers.filter((l) => l.key !== this.draft.exclude)
        .map((l) => ({ ...l, readonly: true }));
      this.layers.push(this.draft);
      this.active = this.draft.key;
    }
    if (!this.layers.some((l) => l.key === this.active)) this.active = this.layers[0]?.key || null;
    this.vertex = null;
    this.undo = [];
    this.img.src = `/api/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg?t=${Date.now()}`;
    this.render();
  }

  activate(key) {
    this.active = key;
    this.vertex = null;
    this.render();
  }

  remember() {
    this.undo.push({ key: this.active, points: JSON.stringify(this.layer.points) });
    if (this.undo.length > 100) this.undo.shift();
  }

  doUndo() {
    const last = this.undo.pop();
    if (!last) return;
    const layer = this.layers.find((l) => l.key === last.key);
    layer.points = JSON.parse(last.points);
    this.active = last.key;
    this.vertex = null;
    this.render();
  }

  position(ev) {
    const box = this.svg.getBoundingClientRect();
    return [clamp((ev.clientX - box.left) / box.width), clamp((ev.clientY - box.top) / box.height)];
  }

  pointerDown(ev) {
    if (ev.button !== 0 || !this.layer) return;
    const index = ev.target.dataset?.index;
    this.remember();
    if (index !== undefined) {
      this.vertex = Number(index);
    } else {
      const at = this.vertex === null ? this.layer.points.length : this.vertex + 1;
      this.layer.points.splice(at, 0, this.position(ev));
      this.vertex = at;
    }
    this.drag = { pointer: ev.pointerId };
    this.svg.setPointerCapture(ev.pointerId);
    this.svg.focus();
    this.render();
  }

  pointerMove(ev) {
    if (!this.drag || this.vertex === null || !this.layer) return;
    this.layer.points[this.vertex] = this.position(ev);
    this.render();
  }

  key(ev) {
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") {
      ev.preventDefault();
      this.doUndo();
      return;
    }
    if (this.layer && (ev.key === "Enter" || ev.key === "Insert")) {
      ev.preventDefault(); // a vertex without a pointer; the arrow keys then move it
      this.remember();
      const { at, point } = nextVertex(this.layer.points, this.vertex);
      this.layer.points.splice(at, 0, point);
      this.vertex = at;
      this.render();
      return;
    }
    if (!this.layer || this.vertex === null) return;
    const step = ev.shiftKey ? NUDGE * 4 : NUDGE;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (ev.key === "Delete" || ev.key === "Backspace") {
      ev.preventDefault();
      this.deleteVertex();
    } else if (moves[ev.key]) {
      ev.preventDefault();
      this.remember();
      const [x, y] = this.layer.points[this.vertex];
      this.layer.points[this.vertex] = [clamp(x + moves[ev.key][0]), clamp(y + moves[ev.key][1])];
      this.render();
    } else if (ev.key === "Tab" && this.layer.points.length) {
      ev.preventDefault(); // Tab walks the vertices of the zone being edited
      const n = this.layer.points.length;
      this.vertex = (this.vertex + (ev.shiftKey ? n - 1 : 1)) % n;
      this.render();
    }
  }

  deleteVertex(index = this.vertex) {
    if (!this.layer || index === null || index === undefined) return;
    this.remember();
    this.layer.points.splice(index, 1);
    this.vertex = this.layer.points.length ? Math.min(index, this.layer.points.length - 1) : null;
    this.render();
  }

  clear() {
    if (!this.layer) return;
    this.remember();
    this.layer.points = [];
    this.vertex = null;
    this.render();
  }

  render() {
    this.renderList();
    this.renderSvg();
    const layer = this.layer;
    this.readout.textContent = layer ? `${layer.label}: ${layer.points.length} ${t("admin_points")}`
      + (this.vertex !== null ? ` · #${this.vertex + 1} (${layer.points[this.vertex].join(", ")})` : "") : "";
  }

  renderList() {
    this.list.replaceChildren(...this.layers.filter((l) => !l.readonly).map((layer) => el("button", {
      type: "button", role: "option", class: `zone-layer${layer.key === this.active ? " active" : ""}`,
      "data-layer": layer.key, "aria-selected": String(layer.key === this.active),
      onclick: () => this.activate(layer.key),
    }, el("span", { class: "swatch", style: `background:${LAYER_COLOURS[layer.kind]}` }), layer.label,
    JSON.stringify(layer.points) !== layer.saved ? el("em", { class: "admin-warn" }, ` · ${t("admin_unsaved")}`) : null)));
  }

  renderSvg() {
    const nodes = [];
    const box = this.svg.getBoundingClientRect();
    const w = Math.max(1, Math.round(box.width));
    const h = Math.max(1, Math.round(box.height));
    this.svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    this.layers.forEach((layer) => {
      if (!layer.points.length) return;
      const active = layer.key === this.active;
      const colour = LAYER_COLOURS[layer.kind];
      const points = layer.points.map(([x, y]) => `${x * w},${y * h}`).join(" ");
      nodes.push(svgEl(layer.points.length > 2 ? "polygon" : "polyline", {
        points, stroke: colour, fill: active ? `${colour}33` : `${colour}14`,
        "stroke-width": active ? 3 : 2, "vector-effect": "non-scaling-stroke",
        "stroke-dasharray": active ? "" : "6 4", class: "zone-shape", "data-layer": layer.key,
      }));
      const [lx, ly] = layer.points[0];
      const label = svgEl("text", { x: lx * w + 6, y: ly * h + 18, fill: colour, class: "zone-label" });
      label.textContent = layer.label;
      nodes.push(label);
      if (active) {
        layer.points.forEach(([x, y], index) => nodes.push(svgEl("circle", {
          cx: x * w, cy: y * h, r: index === this.vertex ? 8 : 6, fill: index === this.vertex ? "#fff" : colour,
          stroke: "#000", "stroke-width": 1, "vector-effect": "non-scaling-stroke",
          class: "vertex", "data-index": index,
        })));
      }
    });
    this.svg.replaceChildren(...nodes);
  }

  async save() {
    const dirty = this.layers.filter((l) => JSON.stringify(l.points) !== l.saved);
    if (!dirty.length) {
      this.box.replaceChildren(el("p", { class: "admin-ok" }, t("admin_unchanged")));
      return;
    }
    for (const layer of dirty) {
      const value = layer.points.length ? layer.points : null;
      const answer = await send(this.box, null, layer.save.path, "PATCH", { [layer.save.field]: value });
      if (!answer) {
        this.active = layer.key;
        this.renderList();
        return;
      }
      layer.saved = JSON.stringify(layer.points);
    }
    this.layers = layersOf(state.config.site, this.camera);
    this.render();
  }
}

// --- the view --------------------------------------------------------------------------------

function statusLine(node) {
  const c = state.config;
  node.replaceChildren(el("span", { class: "muted" }, `${c.file} · ${c.version.slice(0, 12)}`),
    ...(c.running ? [] : [el("span", { class: "pill bad", id: "admin-not-running" }, t("admin_not_running"))]));
}

export default async function mount(root, ctx) {
  await reload();
  if (TABS.includes(ctx.path[0])) state.tab = ctx.path[0];
  const status = el("p", { class: "admin-status" });
  const box = el("div", { id: "admin-message", role: "status", "aria-live": "polite" });
  const panel = el("section", { id: "admin-panel", role: "tabpanel" });
  const tabs = el("div", { class: "admin-tabs", role: "tablist" });
  let editor = null;
  const show = (tab) => {
    state.tab = tab;
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
    box.replaceChildren();
    statusLine(status);
    if (tab === "cameras") renderCameras(panel, box);
    if (tab === "windows") renderWindows(panel, box);
    closeFormEditor();
    if (tab === "queues") renderQueues(panel, box);
    if (tab === "site_zones") renderSiteZones(panel, box);
    if (tab === "schedule") renderSchedule(panel, box);
    if (tab === "thresholds") renderThresholds(panel, box);
    editor?.resize?.disconnect();
    editor = null;
    if (tab === "zones") {
      editor = new ZoneEditor(panel, box);
      editor.mount();
    }
  };
  TABS.forEach((tab) => tabs.append(el("button", {
    type: "button", role: "tab", id: `admin-tab-${tab}`, "data-tab": tab,
    "data-i18n": `admin_tab_${tab}`, onclick: () => show(tab),
  }, t(`admin_tab_${tab}`))));
  tabs.addEventListener("keydown", (ev) => {
    const step = { ArrowRight: 1, ArrowLeft: TABS.length - 1 }[ev.key];
    if (!step) return;
    const next = TABS[(TABS.indexOf(state.tab) + step) % TABS.length];
    show(next);
    document.getElementById(`admin-tab-${next}`).focus();
  });
  root.append(el("h2", { "data-i18n": "admin_title" }, t("admin_title")), status, tabs, box, panel);
  show(TABS.includes(state.tab) ? state.tab : "cameras");
  const offLang = onLang(() => show(state.tab));
  return () => {
    offLang();
    editor?.resize?.disconnect();
    closeFormEditor();
  };
}
