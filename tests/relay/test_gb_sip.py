"""SIP message parsing, serialization and stream framing (relay.gb.sip)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.gb.sip import (
    Headers,
    SipError,
    SipRequest,
    SipResponse,
    StreamFramer,
    header_name,
    make_response,
    new_branch,
    parse_cseq,
    parse_message,
    parse_name_addr,
    parse_via,
    split_outside_quotes,
    transaction_id,
    uri_host_port,
    uri_user,
)

REGISTER = (
    b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.2:5060;rport;branch=z9hG4bK1\r\n"
    b"From: <sip:34020000001110000001@3402000000>;tag=a1\r\n"
    b"To: <sip:34020000001110000001@3402000000>\r\n"
    b"Call-ID: c1@10.0.0.2\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)
COMPACT = (
    b"MESSAGE sip:34020000001110000001@3402000000 SIP/2.0\r\n"
    b"v: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKx\r\n"
    b"v: SIP/2.0/UDP 10.0.0.9\r\n"
    b"f: <sip:34020000002000000001@3402000000>;tag=9\r\n"
    b"t: <sip:34020000001110000001@3402000000>\r\n"
    b"i: m1\r\n"
    b"CSEQ: 7 MESSAGE\r\n"
    b"c: Application/MANSCDP+xml\r\n"
    b"Subject: first\r\n"
    b"  continued\r\n"
    b"l: 5\r\n\r\n"
    b"hello and more"
)


def test_parse_request() -> None:
    message = parse_message(REGISTER)
    assert isinstance(message, SipRequest)
    assert message.method == "REGISTER"
    assert message.uri == "sip:34020000002000000001@3402000000"
    assert message.headers.get("call-id") == "c1@10.0.0.2"
    assert message.headers.get("CSEQ") == "1 REGISTER"
    assert message.body == b""


def test_compact_forms_folding_and_content_length() -> None:
    message = parse_message(COMPACT)
    assert isinstance(message, SipRequest)
    assert message.headers.get("Call-ID") == "m1"
    assert message.headers.get("Content-Type") == "Application/MANSCDP+xml"
    assert message.headers.get("subject") == "first continued"
    assert len(message.headers.get_all("Via")) == 2
    assert message.body == b"hello"  # Content-Length cuts what follows


def test_response_round_trip() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, SipRequest)
    response = make_response(request, 401, to_tag="t1", extra=[("WWW-Authenticate", "Digest x")])
    again = parse_message(response.to_bytes())
    assert isinstance(again, SipResponse)
    assert (again.status, again.reason) == (401, "Unauthorized")
    assert (
        again.headers.get(
            "To",
        )
        == "<sip:34020000001110000001@3402000000>;tag=t1"
    )
    assert again.headers.get("Content-Length") == "0"
    assert again.headers.get("Via") == request.headers.get("Via")


def test_100_trying_gets_no_tag_and_existing_tag_is_kept() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, SipRequest)
    assert "tag=" not in (make_response(request, 100, to_tag="x").headers.get("To") or "")
    request.headers.set("To", "<sip:a@b>;tag=old")
    assert make_response(request, 200, to_tag="new").headers.get("To") == "<sip:a@b>;tag=old"


def test_serialize_sets_content_length_and_body() -> None:
    request = SipRequest("MESSAGE", "sip:a@b", Headers.of([("Content-Length", "99")]), b"abc")
    data = request.to_bytes()
    assert data.endswith(b"Content-Length: 3\r\n\r\nabc")
    assert data.count(b"Content-Length") == 1


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        Headers().add("Subject", "a\r\nVia: evil")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "blank line"),
        (b"garbage\r\n\r\n", "start line"),
        (b"\x00\x01\x02\xff\xfe", "blank line"),
        (REGISTER.replace(b"CSeq: 1 REGISTER\r\n", b""), "CSeq"),
        (REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE"), "does not match"),
        (REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: one REGISTER"), "bad CSeq"),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: 10"), "shorter"),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: -1"), "Content-Length"),
        (REGISTER.replace(b"Via: SIP/2.0/UDP", b"Via: HTTP/1.1"), "Via"),
        (REGISTER.replace(b"Expires: 3600", b"Expires 3600"), "header line"),
        (b"SIP/2.0 2000 OK\r\n\r\n", "start line"),
        (b"REGISTER sip:x SIP/3.0\r\n\r\n", "start line"),
        (b"REGISTER sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", "missing"),
        (REGISTER[:40], "blank line"),
        (b"x" * 70_000, "too large"),
    ],
)
def test_malformed(data: bytes, why: str) -> None:
    with pytest.raises(SipError, match=why):
        parse_message(data)


@given(st.binary(max_size=400))
def test_parse_never_raises_anything_but_sip_error(data: bytes) -> None:
    with contextlib.suppress(SipError):
        parse_message(data)


@given(st.integers(min_value=0, max_value=len(REGISTER)))
def test_truncated_messages_are_errors(cut: int) -> None:
    if cut == len(REGISTER):
        parse_message(REGISTER)
        return
    if cut >= len(REGISTER) - 2:  # only the final CRLF lost: still a whole message
        return
    with pytest.raises(SipError):
        parse_message(REGISTER[:cut])


def test_gb18030_display_name() -> None:
    data = REGISTER.replace(b"From: <", 'From: "大厅" <'.encode("gb18030"))
    message = parse_message(data)
    assert parse_name_addr(message.headers.get("From") or "").display == "大厅"


def test_stream_framer_cuts_by_content_length() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + REGISTER + COMPACT.replace(b" and more", b"") + b"\r\n" + REGISTER
    got: list[object] = []
    for at in range(0, len(stream), 7):  # arbitrary chunks
        got += framer.feed(stream[at : at + 7])
    assert [type(item) for item in got] == [SipRequest, SipRequest, SipRequest]
    assert isinstance(got[1], SipRequest) and got[1].body == b"hello"
    assert framer.pending == 0


def test_stream_framer_skips_a_bad_message_and_goes_on() -> None:
    framer = StreamFramer()
    got = framer.feed(b"NONSENSE here\r\nfoo\r\n\r\n" + REGISTER)
    assert isinstance(got[0], SipError)
    assert isinstance(got[1], SipRequest)


def test_stream_framer_caps_its_buffer() -> None:
    framer = StreamFramer(max_message=1000)
    got = framer.feed(b"x" * 1500)
    assert len(got) == 1 and isinstance(got[0], SipError)
    assert framer.pending == 0
    big = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 5000")
    assert isinstance(framer.feed(big)[0], SipError)


def test_stream_framer_waits_for_the_body() -> None:
    framer = StreamFramer()
    assert framer.feed(COMPACT[:-12]) == []
    assert isinstance(framer.feed(COMPACT[-12:])[0], SipRequest)


@pytest.mark.parametrize(
    ("value", "transport", "host", "port", "branch"),
    [
        ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport", "UDP", "10.0.0.1", 5060, "z9hG4bKa"),
        ("SIP / 2.0 / tcp host.example", "TCP", "host.example", None, None),
        ("SIP/2.0/UDP [::1]:5070;branch=b", "UDP", "[::1]", 5070, "b"),
    ],
)
def test_parse_via(value: str, transport: str, host: str, port: int | None, branch: str) -> None:
    via = parse_via(value)
    assert (via.transport, via.host, via.port, via.branch) == (transport, host, port, branch)


@pytest.mark.parametrize(
    ("value", "uri", "display", "tag"),
    [
        ("<sip:1@d>;tag=x", "sip:1@d", "", "x"),
        ('"Hall, A" <sip:1@d;lr>;tag=y;expires=60', "sip:1@d;lr", "Hall, A", "y"),
        ("sip:1@d;tag=z", "sip:1@d", "", "z"),
    ],
)
def test_name_addr(value: str, uri: str, display: str, tag: str) -> None:
    parsed = parse_name_addr(value)
    assert (parsed.uri, parsed.display, parsed.tag) == (uri, display, tag)
    assert parse_name_addr(str(parsed)) == parsed


@pytest.mark.parametrize("value", ["<sip:1@d", "", "<nouri>"])
def test_bad_name_addr(value: str) -> None:
    with pytest.raises(SipError):
        parse_name_addr(value)


@pytest.mark.parametrize(
    ("uri", "user", "host", "port"),
    [
        ("sip:34020000001320000001@10.0.0.1:5060", "34020000001320000001", "10.0.0.1", 5060),
        ("sip:3402000000", None, "3402000000", None),
        ("sip:u@[::1]:7;transport=tcp", "u", "::1", 7),
        ("tel:+123", None, "+123", None),
    ],
)
def test_uri_parts(uri: str, user: str | None, host: str, port: int | None) -> None:
    assert uri_user(uri) == user
    assert uri_host_port(uri) == (host, port)


@pytest.mark.parametrize(
    ("name", "long"),
    [("i", "Call-ID"), ("CALL-ID", "Call-ID"), ("cseq", "CSeq"), ("www-authenticate",
     "WWW-Authenticate"), ("x-custom-thing", "X-Custom-Thing"), ("l", "Content-Length")],
)  # fmt: skip
def test_header_names(name: str, long: str) -> None:
    assert header_name(name) == long


def test_headers_set_replaces_all() -> None:
    headers = Headers.of([("Via", "a"), ("To", "t"), ("v", "b")])
    headers.set("VIA", "c")
    assert headers.fields == [("Via", "c"), ("To", "t")]
    headers.remove("t")
    assert headers.fields == [("Via", "c")]


def test_split_outside_quotes() -> None:
    assert split_outside_quotes('a, "b, c" <d,e>, f', ",") == ["a", '"b, c" <d,e>', "f"]


def test_cseq_and_branch() -> None:
    assert parse_cseq("12 message") == (12, "MESSAGE")
    assert new_branch().startswith("z9hG4bK") and new_branch() != new_branch()


def test_transaction_id_ties_cancel_to_its_invite() -> None:
    invite = parse_message(REGISTER.replace(b"REGISTER", b"INVITE"))
    assert isinstance(invite, SipRequest)
    cancel = SipRequest("CANCEL", invite.uri, invite.headers.copy())
    cancel.headers.set("CSeq", "1 CANCEL")
    assert transaction_id(cancel) == transaction_id(invite)
    other = SipRequest("INVITE", invite.uri, invite.headers.copy())
    other.headers.set("Via", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK2")
    assert transaction_id(other) != transaction_id(invite)


def test_transaction_id_without_magic_cookie_uses_cseq_and_call_id() -> None:
    old = parse_message(REGISTER.replace(b";branch=z9hG4bK1", b""))
    assert isinstance(old, SipRequest)
    again = SipRequest(old.method, old.uri, old.headers.copy())
    assert transaction_id(again) == transaction_id(old)
    again.headers.set("CSeq", "2 REGISTER")
    assert transaction_id(again) != transaction_id(old)
