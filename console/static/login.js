"use strict";
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const body = JSON.stringify({
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  });
  const res = await fetch("/api/login", {
    method: "POST", headers: {"Content-Type": "application/json"}, body,
  });
  if (res.ok) {
    window.location.href = "/";
  } else {
    error.textContent = t("login_failed");
  }
});
