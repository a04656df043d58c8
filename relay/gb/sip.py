"""SIP messages (RFC 3261) as the GB/T 28181 cascade needs them: parse, build, serialize, frame.

Headers are case-insensitive and compact forms (``i``, ``f``, ``t``, ``v``, ``l``, ``c``, ``m``,
...) are read as their long names; folded header lines are joined. A datagram is one message
(Content-Length, when present, cuts the body; a body shorter than it is an error); on a stream
(TCP) `StreamFramer` cuts messages by Content-Length and skips CRLF keepalives.

Why not a library: PyPI was checked. ``sipmessage`` 0.7.1 (BSD-2, typed, pure Python) is the
closest fit but takes everything after the blank line as the body (no Content-Length), has no
stream framing, no folded lines, decodes headers strictly as UTF-8, and would be a new
dependency for about a third of this file; ``aiosipua`` 0.7.1 is an alpha voice-call stack
with its own transactions, dialogs and SDP; ``sippy`` is a full B2BUA; ``aiosip`` has not been
released since 2017; ``pyVoIP`` is an audio phone. GB/T 28181 uses a small, fixed subset of
SIP, so this module keeps just that subset, with table tests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MAX_MESSAGE_BYTES = 65_535  # a UDP datagram; also the cap for one message on a stream
BRANCH_MAGIC = "z9hG4bK"  # RFC 3261 §8.1.1.7

COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
}
_SPELLING = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
        "User-Agent",
        "Record-Route",
        "Min-Expires",
    )
}
REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?$")
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+) (\S+) SIP/2\.0$")
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*$", re.I | re.M)
_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")


class SipError(ValueError):
    """A message that cannot be parsed (the text says why; it never holds the whole message)."""


def header_name(name: str) -> str:
    """The long, conventionally spelled form of a header name: ``i`` → ``Call-ID``."""
    stripped = name.strip()
    lowered = stripped.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    if lowered in _SPELLING:
        return _SPELLING[lowered]
    return "-".join(part[:1].upper() + part[1:].lower() for part in stripped.split("-"))


@dataclass(slots=True)
class Headers:
    """Ordered header fields; names compared case-insensitively, stored in their long form."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        headers = cls()
        for name, value in pairs:
            headers.add(name, value)
        return headers

    def add(self, name: str, value: str) -> None:
        if "\r" in value or "\n" in value:
            raise ValueError(f"line break in header {name}")
        self.fields.append((header_name(name), value.strip()))

    def set(self, name: str, value: str) -> None:
        """Replace every field of this name by one (added at the end when there was none)."""
        name = header_name(name)
        kept: list[tuple[str, str]] = []
        placed = False
        for have, old in self.fields:
            if have.lower() != name.lower():
                kept.append((have, old))
            elif not placed:
                kept.append((name, value.strip()))
                placed = True
        if not placed:
            kept.append((name, value.strip()))
        self.fields = kept

    def remove(self, name: str) -> None:
        lowered = header_name(name).lower()
        self.fields = [(n, v) for n, v in self.fields if n.lower() != lowered]

    def get(self, name: str) -> str | None:
        lowered = header_name(name).lower()
        for have, value in self.fields:
            if have.lower() == lowered:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of this header; comma-joined values of Via/Contact/Route are split."""
        name = header_name(name)
        values = [v for n, v in self.fields if n.lower() == name.lower()]
        if name in ("Via", "Contact", "Route", "Record-Route"):
            return [part for value in values for part in split_outside_quotes(value, ",")]
        return values

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def copy(self) -> Headers:
        return Headers(list(self.fields))


@dataclass(slots=True)
class SipRequest:
    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def to_bytes(self) -> bytes:
        return _serialize(self.start_line(), self.headers, self.body)


@dataclass(slots=True)
class SipResponse:
    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def to_bytes(self) -> bytes:
        return _serialize(self.start_line(), self.headers, self.body)


SipMessage = SipRequest | SipResponse


def _serialize(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    lines += [f"{name}: {value}" for name, value in headers if name != "Content-Length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


# ---- parsing ----------------------------------------------------------------------------------


def _decode_head(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")  # Chinese display names or subjects from older platforms
    except UnicodeDecodeError:
        raise SipError("header bytes are neither UTF-8 nor GB18030") from None


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for blank in (b"\r\n\r\n", b"\n\n"):
        at = data.find(blank)
        if at >= 0:
            return data[:at], data[at + len(blank) :]
    raise SipError("no blank line after the headers")


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def parse_message(data: bytes) -> SipMessage:
    """One SIP message from a datagram (or a slice cut by `StreamFramer`); raises SipError."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipError(f"message of {len(data)} bytes is too large")
    head, rest = _split_head(data.lstrip(b"\r\n"))
    lines = _unfold(_decode_head(head))
    start, header_lines = lines[0], lines[1:]
    message: SipMessage
    status = _STATUS_LINE.match(start)
    request = _REQUEST_LINE.match(start)
    if status:
        message = SipResponse(int(status.group(1)), (status.group(2) or "").strip())
    elif request:
        message = SipRequest(request.group(1).upper(), request.group(2))
    else:
        raise SipError(f"bad start line {start[:80]!r}")
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name.strip()):
            raise SipError(f"bad header line {line[:80]!r}")
        message.headers.add(name, value)
    message.body = _body(message.headers.get("Content-Length"), rest)
    _check_required(message)
    return message


def _body(length: str | None, rest: bytes) -> bytes:
    if length is None:
        return rest
    if not length.isdigit():
        raise SipError(f"bad Content-Length {length[:20]!r}")
    size = int(length)
    if size > len(rest):
        raise SipError(f"body shorter than Content-Length ({len(rest)} < {size})")
    return rest[:size]


def _check_required(message: SipMessage) -> None:
    for name in _REQUIRED:
        if message.headers.get(name) is None:
            raise SipError(f"missing {name} header")
    _, method = parse_cseq(message.headers.get("CSeq") or "")
    if isinstance(message, SipRequest) and method != message.method:
        raise SipError(f"CSeq method {method} does not match {message.method}")
    parse_via(message.headers.get_all("Via")[0])


class StreamFramer:
    """Cuts a byte stream (SIP over TCP) into messages by the blank line and Content-Length.

    `feed` returns parsed messages and SipError values (a bad message is skipped, the stream
    goes on with the next one); CRLF keepalives between messages are skipped.
    """

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[SipMessage | SipError]:
        self._buffer += data
        out: list[SipMessage | SipError] = []
        while True:
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self._max:
                    out.append(SipError(f"no end of headers in {len(self._buffer)} bytes"))
                    self._buffer.clear()
                return out
            head = bytes(self._buffer[:end])
            found = _CONTENT_LENGTH.search(head)
            size = int(found.group(1)) if found else 0
            total = end + 4 + size
            if total > self._max:
                out.append(SipError(f"message of {total} bytes is too large"))
                self._buffer.clear()
                return out
            if len(self._buffer) < total:
                return out
            chunk = bytes(self._buffer[:total])
            del self._buffer[:total]
            try:
                out.append(parse_message(chunk))
            except SipError as exc:
                out.append(exc)


# ---- header values ----------------------------------------------------------------------------


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` outside double quotes and <...>; parts stripped, empties dropped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    angle = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "<>":
            angle = char == "<"
        elif char == separator and not quoted and not angle:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def parse_params(parts: Iterable[str]) -> dict[str, str]:
    """``name=value`` / ``name`` parameters (names lower-cased, quotes removed)."""
    params: dict[str, str] = {}
    for part in parts:
        name, _, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params[name.strip().lower()] = value
    return params


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``"display" <uri>;params`` (From, To, Contact)."""

    uri: str
    display: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        text = f'"{self.display}" <{self.uri}>' if self.display else f"<{self.uri}>"
        return text + "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())


def parse_name_addr(value: str) -> NameAddr:
    text = value.strip()
    display = ""
    if "<" in text:
        before, _, after = text.partition("<")
        uri, closed, params_text = after.partition(">")
        if not closed:
            raise SipError(f"unclosed <> in {value[:80]!r}")
        display = before.strip().strip('"')
        params = parse_params(split_outside_quotes(params_text, ";"))
    else:  # addr-spec: parameters after the URI belong to the header
        parts = split_outside_quotes(text, ";")
        if not parts:
            raise SipError("empty address")
        uri, params = parts[0], parse_params(parts[1:])
    if ":" not in uri:
        raise SipError(f"bad URI {uri[:80]!r}")
    return NameAddr(uri.strip(), display, params)


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")


def parse_via(value: str) -> Via:
    parts = split_outside_quotes(value, ";")
    match = re.match(
        r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[^\]]+\]|[^\s:]+)(?::(\d+))?$", parts[0]
    )
    if not match:
        raise SipError(f"bad Via {value[:80]!r}")
    port = int(match.group(3)) if match.group(3) else None
    return Via(match.group(1).upper(), match.group(2), port, parse_params(parts[1:]))


def parse_cseq(value: str) -> tuple[int, str]:
    match = re.match(r"^\s*([0-9]{1,10})\s+([A-Za-z]+)\s*$", value)
    if not match:
        raise SipError(f"bad CSeq {value[:40]!r}")
    return int(match.group(1)), match.group(2).upper()


def uri_user(uri: str) -> str | None:
    """The user part of ``sip:user@host:port;params`` (None without one)."""
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        return None
    user, at, _host = rest.partition("@")
    return user.split(";")[0] if at else None


def uri_host_port(uri: str) -> tuple[str, int | None]:
    """Host and port of a SIP URI (port None when absent)."""
    rest = uri.partition(":")[2]
    rest = rest.rpartition("@")[2].split(";")[0].split("?")[0]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port_text = tail.lstrip(":")
    else:
        host, _, port_text = rest.partition(":")
    return host, int(port_text) if port_text.isdigit() else None


# ---- building ---------------------------------------------------------------------------------


def new_branch() -> str:
    return BRANCH_MAGIC + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(5)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(10)}@{host}"


def top_via(message: SipMessage) -> Via:
    return parse_via(message.headers.get_all("Via")[0])


def transaction_id(request: SipRequest) -> str:
    """What ties a request to its server transaction, the method aside (RFC 3261 §17.2.3): the
    top Via's branch and sent-by; for RFC 2543 peers without the magic cookie, the request-URI,
    From tag, Call-ID, CSeq number and top Via (an ACK or CANCEL matches its INVITE)."""
    via = top_via(request)
    sent_by = f"{via.host}:{via.port or ''}"
    if via.branch and via.branch.startswith(BRANCH_MAGIC):
        return f"{via.branch}|{sent_by}"
    from_tag = parse_name_addr(request.headers.get("From") or "").tag or ""
    number = cseq(request)[0]
    return f"{request.uri}|{from_tag}|{call_id(request)}|{number}|{sent_by}|{via.branch or ''}"


def call_id(message: SipMessage) -> str:
    return message.headers.get("Call-ID") or ""


def cseq(message: SipMessage) -> tuple[int, str]:
    return parse_cseq(message.headers.get("CSeq") or "")


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response echoing the request's Via, From, To (tag added if it has none), Call-ID and
    CSeq (RFC 3261 §8.2.6)."""
    headers = Headers()
    for value in request.headers.get_all("Via"):
        headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        headers.add(name, request.headers.get(name) or "")
    to = request.headers.get("To") or ""
    if to_tag and status > 100 and ";tag=" not in to.replace(" ", "").lower():
        headers.set("To", f"{to};tag={to_tag}")
    for name, value in extra:
        headers.add(name, value)
    return SipResponse(status, reason or REASONS.get(status, "Unknown"), headers, body)
