"""HTTP Digest authentication for SIP REGISTER (RFC 2617, RFC 7616, as RFC 3261 §22 uses it).

`parse_challenge` reads a ``WWW-Authenticate``/``Proxy-Authenticate`` value; `authorization`
answers it. Supported: algorithms MD5 (the one GB/T 28181 platforms send), MD5-sess, SHA-256
and SHA-256-sess; ``qop=auth`` or no qop (RFC 2069 compatibility, common on GB platforms).
``qop=auth-int`` alone is refused (DigestError): no GB platform asks for it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

_HASHES = {"MD5": "md5", "SHA-256": "sha256"}
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)\s*(?:,|$)')


class DigestError(ValueError):
    """A challenge that cannot be parsed or answered."""


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_auth_params(text: str) -> dict[str, str]:
    """``k=v, k="quoted \\" value"`` → dict (names lower-cased, quotes and escapes removed)."""
    params: dict[str, str] = {}
    at = 0
    text = text.strip()
    while at < len(text):
        match = _PARAM.match(text, at)
        if not match or match.end() == at:
            raise DigestError(f"bad auth parameters near {text[at : at + 30]!r}")
        quoted = match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group(2)
        params[match.group(1).lower()] = value
        at = match.end()
    return params


def parse_challenge(value: str) -> Challenge:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"not a Digest challenge: {scheme[:20]!r}")
    params = parse_auth_params(rest)
    if "realm" not in params or "nonce" not in params:
        raise DigestError("challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm.removesuffix("-SESS") not in _HASHES:
        raise DigestError(f"unsupported algorithm {algorithm[:20]}")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def _hash(algorithm: str, text: str) -> str:
    name = _HASHES[algorithm.upper().removesuffix("-SESS")]
    return hashlib.new(name, text.encode("utf-8")).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None,
    nc: str,
    cnonce: str,
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; without qop RFC 2069's form)."""
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def choose_qop(challenge: Challenge) -> str | None:
    if not challenge.qop:
        return None
    if "auth" in challenge.qop:
        return "auth"
    raise DigestError(f"unsupported qop {','.join(challenge.qop)[:30]}")


def authorization(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` header value answering `challenge` (the password never appears)."""
    qop = choose_qop(challenge)
    nc_text = f"{nc:08x}"
    cnonce = cnonce or secrets.token_hex(8)
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    parts = [
        f'username="{_quote(username)}"',
        f'realm="{_quote(challenge.realm)}"',
        f'nonce="{_quote(challenge.nonce)}"',
        f'uri="{_quote(uri)}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None or challenge.algorithm.upper().endswith("-SESS"):
        parts.append(f'cnonce="{_quote(cnonce)}"')
    if qop is not None:
        parts += [f"qop={qop}", f"nc={nc_text}"]
    if challenge.opaque is not None:
        parts.append(f'opaque="{_quote(challenge.opaque)}"')
    return "Digest " + ", ".join(parts)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
