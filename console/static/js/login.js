import { addMessages, bindLangToggle, t } from "./i18n.js";

addMessages({
  zh: { login_disabled: "该账号已停用，请联系管理员" },
  en: { login_disabled: "This account is disabled; ask an administrator" },
});

bindLangToggle();
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const body = JSON.stringify({
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  });
  const res = await fetch("/api/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body,
  });
  if (res.ok) {
    window.location.href = "/";
  } else if (res.status === 429) {
    const data = await res.json().catch(() => ({}));
    const wait = Math.ceil(Number(data.retry_after_s || res.headers.get("Retry-After") || 60));
    error.textContent = t("login_locked").replace("{s}", String(wait));
  } else if (res.status === 403) {
    error.textContent = t("login_disabled");
  } else {
    error.textContent = t("login_failed");
  }
});
