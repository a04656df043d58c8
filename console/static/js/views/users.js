// Users and roles (用户管理, admins): the list of users with their role, halls and state; create
// a user (given or generated password), change role or halls, disable/enable, reset a password
// (a generated password is shown once) and delete. Every change is audited by the server.
import { ApiError, api } from "../api.js";
import { el, fmtDateTime } from "../dom.js";
import { addMessages, fill, onLang, t } from "../i18n.js";

const ROLES = ["operator", "inspector", "auditor", "admin"];

addMessages({
  zh: {
    users_title: "用户管理", users_new: "新建用户", users_username: "用户名", users_role: "角色",
    users_halls: "限定大厅", users_all_halls: "全部大厅", users_password: "初始密码",
    users_password_hint: "留空则自动生成", users_create: "创建", users_state: "状态",
    users_active: "启用", users_disabled: "已停用", users_created: "创建时间", users_actions: "操作",
    users_disable: "停用", users_enable: "启用", users_reset: "重置密码", users_delete: "删除",
    users_save_halls: "保存大厅", users_confirm_delete: "确定删除用户 {u}？",
    users_confirm_reset: "确定重置 {u} 的密码？其现有登录将被注销。",
    users_new_password: "{u} 的新密码（只显示这一次，请转交本人）：",
    users_created_ok: "已创建用户 {u}。", users_saved: "已保存 {u}。", users_deleted: "已删除 {u}。",
    users_you: "（本人）",
  },
  en: {
    users_title: "Users", users_new: "New user", users_username: "User name", users_role: "Role",
    users_halls: "Halls", users_all_halls: "all halls", users_password: "Initial password",
    users_password_hint: "leave empty to generate one", users_create: "Create", users_state: "State",
    users_active: "active", users_disabled: "disabled", users_created: "Created",
    users_actions: "Actions", users_disable: "Disable", users_enable: "Enable",
    users_reset: "Reset password", users_delete: "Delete", users_save_halls: "Save halls",
    users_confirm_delete: "Delete user {u}?",
    users_confirm_reset: "Reset the password of {u}? Their sessions end.",
    users_new_password: "New password of {u} (shown only this once; hand it over in person):",
    users_created_ok: "User {u} created.", users_saved: "Saved {u}.", users_deleted: "Deleted {u}.",
    users_you: " (you)",
  },
});


function roleSelect(id, value, onchange) {
  return el("select", { id, "aria-label": t("users_role"), onchange },
    ...ROLES.map((role) => el("option", { value: role, selected: role === value },
      t(`role_${role}`))));
}

function hallsSelect(id, halls, chosen) {
  const size = Math.min(Math.max(halls.length, 2), 5);
  return el("select", { id, multiple: true, size, "aria-label": t("users_halls") },
    ...halls.map((hall) => el("option", { value: hall.id, selected: chosen.includes(hall.id) },
      hall.name)));
}

const chosenHalls = (select) => [...select.selectedOptions].map((option) => option.value);

export default async function mount(root, ctx) {
  const halls = ctx.site.halls || [];
  const hallName = (id) => (halls.find((h) => h.id === id) || { name: id }).name;
  const status = el("p", { id: "users-status", class: "users-status", role: "status" });
  const secret = el("div", { id: "users-secret", class: "users-secret", hidden: true,
    role: "alert" });
  const tbody = el("tbody", { id: "users-rows" });

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  function showSecret(username, password) {
    secret.replaceChildren(
      el("span", {}, fill(t("users_new_password"), { u: username })),
      el("code", { id: "users-new-password", class: "users-password" }, password),
      el("button", { type: "button", onclick: () => { secret.hidden = true; } }, t("close")));
    secret.hidden = false;
  }

  async function act(fn, done) {
    try {
      const result = await fn();
      if (done) say(done);
      await load();
      return result;
    } catch (err) {
      say(err instanceof ApiError ? err.lines().join("; ") : String(err), true);
      await load().catch(() => {});  // show the stored state again (e.g. a refused role change)
      return null;
    }
  }

  function row(user) {
    const u = user.username;
    const me = u === ctx.me.username;
    const hallsBox = hallsSelect(`users-halls-${u}`, halls, user.halls);
    const cells = [
      el("th", { scope: "row" }, u, me ? t("users_you") : ""),
      el("td", {}, roleSelect(`users-role-${u}`, user.role, (ev) => act(
        () => api(`/api/users/${encodeURIComponent(u)}`, { method: "PATCH",
          body: { role: ev.target.value } }), fill(t("users_saved"), { u })))),
      el("td", { class: "users-halls" },
        el("span", {}, user.halls.length ? user.halls.map(hallName).join("、") : t("users_all_halls")),
        halls.length ? el("details", {}, el("summary", {}, t("users_halls")), hallsBox,
          el("button", { type: "button", onclick: () => act(
            () => api(`/api/users/${encodeURIComponent(u)}`, { method: "PATCH",
              body: { halls: chosenHalls(hallsBox) } }), fill(t("users_saved"), { u })) },
          t("users_save_halls"))) : null),
      el("td", {}, el("span", { class: user.disabled ? "pill bad" : "pill ok" },
        t(user.disabled ? "users_disabled" : "users_active"))),
      el("td", {}, fmtDateTime(user.created_at)),
      el("td", {}, el("div", { class: "users-actions" },
        el("button", { type: "button", id: `users-toggle-${u}`, disabled: me, onclick: () => act(
          () => api(`/api/users/${encodeURIComponent(u)}`, { method: "PATCH",
            body: { disabled: !user.disabled } }), fill(t("users_saved"), { u })) },
        t(user.disabled ? "users_enable" : "users_disable")),
        el("button", { type: "button", id: `users-reset-${u}`, onclick: async () => {
          if (!window.confirm(fill(t("users_confirm_reset"), { u }))) return;
          const answer = await act(() => api(`/api/users/${encodeURIComponent(u)}/password`,
            { method: "POST", body: {} }));
          if (answer && answer.password) showSecret(u, answer.password);
        } }, t("users_reset")),
        el("button", { type: "button", class: "danger", id: `users-delete-${u}`, disabled: me,
          onclick: () => {
          if (!window.confirm(fill(t("users_confirm_delete"), { u }))) return;
          act(() => api(`/api/users/${encodeURIComponent(u)}`, { method: "DELETE" }),
            fill(t("users_deleted"), { u }));
        } }, t("users_delete")))),
    ];
    return el("tr", { "data-user": u, class: user.disabled ? "disabled" : "" }, ...cells);
  }

  async function load() {
    const users = await api("/api/users");
    tbody.replaceChildren(...users.map(row));
  }

  function build() {
    const name = el("input", { id: "users-new-name", required: true, maxlength: 64,
      pattern: "[\\w.@\\-]{1,64}", autocomplete: "off" });
    const role = roleSelect("users-new-role", "operator");
    const newHalls = hallsSelect("users-new-halls", halls, []);
    const password = el("input", { id: "users-new-password-input", type: "password",
      minlength: 8, autocomplete: "new-password", placeholder: t("users_password_hint") });
    const form = el("form", { id: "users-new", class: "users-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { username: name.value.trim(), role: role.value, halls: chosenHalls(newHalls) };
      if (password.value) body.password = password.value;
      const answer = await act(() => api("/api/users", { method: "POST", body }),
        fill(t("users_created_ok"), { u: body.username }));
      if (!answer) return;
      if (answer.password) showSecret(body.username, answer.password);
      form.reset();
      name.focus();
    } },
    el("h3", {}, t("users_new")),
    el("label", {}, el("span", {}, t("users_username")), name),
    el("label", {}, el("span", {}, t("users_role")), role),
    halls.length ? el("label", {}, el("span", {}, t("users_halls")), newHalls) : null,
    el("label", {}, el("span", {}, t("users_password")), password),
    el("button", { type: "submit", class: "primary" }, t("users_create")));

    const table = el("table", { class: "table users-table" },
      el("thead", {}, el("tr", {}, ...["users_username", "users_role", "users_halls", "users_state",
        "users_created", "users_actions"].map((key) => el("th", { scope: "col" }, t(key))))),
      tbody);
    root.replaceChildren(el("h2", {}, t("users_title")), status, secret,
      el("div", { class: "users-layout" }, el("div", { class: "users-list" }, table), form));
  }

  build();
  await load();
  return onLang(() => { build(); load(); });
}
