"""Log a TestClient or httpx.Client into the console the way the browser does.

The console's session cookie is HttpOnly; state-changing requests must also carry the CSRF
token (the readable `hw_csrf` cookie set at login) in the X-CSRF-Token header. `log_in`
sets that header on the client, so later POST/PUT/DELETE calls pass the check.
"""

from __future__ import annotations

from typing import Any

CSRF_COOKIE = "hw_csrf"
CSRF_HEADER = "X-CSRF-Token"


def log_in(client: Any, username: str, password: str) -> Any:
    """POST /api/login; on success the client sends the CSRF header from then on."""
    response = client.post("/api/login", json={"username": username, "password": password})
    token = client.cookies.get(CSRF_COOKIE)
    if response.status_code == 200 and token:
        client.headers[CSRF_HEADER] = token
    return response
