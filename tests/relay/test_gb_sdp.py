"""SDP of GB/T 28181 INVITEs (relay/gb/sdp.py): offers as platforms send them, refusals with a
reason, and our answer."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.gb.media_api import MediaAnswer, MediaOffer, SdpError
from relay.gb.sdp import answer_sdp, answer_setup, parse_offer

CHANNEL = "34020000001320000001"

UDP_OFFER = """v=0
o=34020000002000000001 0 0 IN IP4 192.168.1.10
s=Play
c=IN IP4 192.168.1.10
t=0 0
m=video 30000 RTP/AVP 96 97 98
a=recvonly
a=rtpmap:96 PS/90000
a=rtpmap:97 MPEG4/90000
a=rtpmap:98 H264/90000
y=0100000001
"""


def offer(text: str, **replace: str) -> str:
    """UDP_OFFER with lines replaced ({"s=Play": "s=Playback"}) and CRLF line ends."""
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.replace("\n", "\r\n")


def tcp(setup: str | None, proto: str = "TCP/RTP/AVP") -> str:
    lines = f"m=video 30000 {proto} 96\na=recvonly\na=rtpmap:96 PS/90000\n"
    if setup is not None:
        lines += f"a=setup:{setup}\na=connection:new\n"
    head = UDP_OFFER.split("m=video")[0]
    return head + lines + "y=0100000002\nf=\n"


def expected(**changes: object) -> MediaOffer:
    values: dict[str, object] = dict(
        session="Play", ip="192.168.1.10", port=30000, transport="udp", setup=None, payload=96,
        ssrc="0100000001", channel_id=CHANNEL,
    )  # fmt: skip
    values.update(changes)
    return MediaOffer(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sdp", "wanted"),
    [
        (offer(UDP_OFFER), expected()),
        (UDP_OFFER, expected()),  # LF only
        (offer(UDP_OFFER, **{"s=Play": "s=play"}), expected()),
        # PS not listed first: the PS payload is found by its rtpmap
        (offer(UDP_OFFER, **{"RTP/AVP 96 97 98": "RTP/AVP 98 97 100",
                             "rtpmap:96 PS": "rtpmap:100 PS"}), expected(payload=100)),
        # media-level c= wins over the session's
        (offer(UDP_OFFER, **{"a=recvonly": "c=IN IP4 10.0.0.5\na=recvonly"}),
         expected(ip="10.0.0.5")),
        # y= before the m= section, and an f= line
        (offer(UDP_OFFER, **{"t=0 0\n": "t=0 0\ny=0100000009\n", "y=0100000001\n": "f=\n"}),
         expected(ssrc="0100000009")),
        # an audio section before the video one is ignored
        (offer(UDP_OFFER, **{"m=video": "m=audio 30002 RTP/AVP 8\na=rtpmap:8 PCMA/8000\nm=video"}),
         expected()),
        (tcp("passive"), expected(transport="tcp", setup="passive", ssrc="0100000002")),
        (tcp("active"), expected(transport="tcp", setup="active", ssrc="0100000002")),
        (tcp("actpass"), expected(transport="tcp", setup="passive", ssrc="0100000002")),
        (tcp(None), expected(transport="tcp", setup="active", ssrc="0100000002")),  # RFC 4145
        (tcp("passive", "RTP/AVP/TCP"), expected(transport="tcp", setup="passive",
                                                 ssrc="0100000002")),
        # an active platform connects to us: its own port does not matter (RFC 4145 says 9)
        (tcp("active").replace("m=video 30000", "m=video 9"),
         expected(transport="tcp", setup="active", ssrc="0100000002", port=9)),
    ],
)  # fmt: skip
def test_offers_are_read(sdp: str, wanted: MediaOffer) -> None:
    assert parse_offer(sdp, CHANNEL) == wanted


@pytest.mark.parametrize(
    ("sdp", "reason"),
    [
        (offer(UDP_OFFER, **{"y=0100000001\n": ""}), "no y= line"),
        (offer(UDP_OFFER, **{"y=0100000001": "y=01000000011"}), "bad y= SSRC"),
        (offer(UDP_OFFER, **{"y=0100000001": "y=9999999999"}), "below 2^32"),
        (offer(UDP_OFFER, **{"y=0100000001": "y=abc"}), "bad y= SSRC"),
        (offer(UDP_OFFER, **{"a=rtpmap:96 PS/90000\n": ""}), "no PS/90000 payload"),
        (offer(UDP_OFFER, **{"PS/90000": "PS/8000"}), "clock rate 8000"),
        (offer(UDP_OFFER, **{"s=Play": "s=Playback"}), "only live video"),
        (offer(UDP_OFFER, **{"s=Play": "s=Download"}), "only live video"),
        (offer(UDP_OFFER, **{"s=Play\n": ""}), "no s= line"),
        (offer(UDP_OFFER, **{"c=IN IP4 192.168.1.10\n": ""}), "no c= line"),
        (offer(UDP_OFFER, **{"IN IP4 192.168.1.10\nt": "IN IP6 ::1\nt"}), "only IPv4"),
        (offer(UDP_OFFER, **{"c=IN IP4 192.168.1.10": "c=IN IP4 192.168.1"}), "bad IPv4"),
        (offer(UDP_OFFER, **{"c=IN IP4 192.168.1.10": "c=IN IP4 239.1.1.1"}), "multicast"),
        (offer(UDP_OFFER, **{"m=video 30000": "m=video 0"}), "port 0"),
        (offer(UDP_OFFER, **{"m=video 30000": "m=video 70000"}), "bad port"),
        (offer(UDP_OFFER, **{"m=video 30000 RTP/AVP": "m=video 30000 RTP/SAVP"}),
         "not served"),
        (offer(UDP_OFFER, **{"m=video": "m=audio"}), "no m=video"),
        (offer(UDP_OFFER, **{"a=recvonly": "a=sendonly"}), "does not want to receive"),
        (tcp("holdconn"), "a=setup:holdconn"),
        (offer(UDP_OFFER, **{"v=0\n": ""}), "must begin with v=0"),
        ("", "must begin with v=0"),
        ("INVITE sip:x SIP/2.0\r\n", "must begin with v=0"),
        ("v=0\r\nthis is not sdp\r\n", "not type=value"),
        ("v=0\r\n" + "a=x\r\n" * 3000, "too long"),
    ],
)  # fmt: skip
def test_offers_we_cannot_serve_are_refused_with_a_reason(sdp: str, reason: str) -> None:
    with pytest.raises(SdpError, match=reason.replace("^", r"\^")):
        parse_offer(sdp, CHANNEL)


@given(st.text(max_size=300))
def test_garbage_raises_only_sdp_error(text: str) -> None:
    for candidate in (text, "v=0\r\n" + text, offer(UDP_OFFER) + text):
        with contextlib.suppress(SdpError):  # anything else escaping is a bug
            parse_offer(candidate, CHANNEL)


def test_udp_answer() -> None:
    parsed = parse_offer(offer(UDP_OFFER), CHANNEL)
    answer = MediaAnswer("192.168.1.20", 40000, answer_setup(parsed))
    text = answer_sdp(parsed, answer, our_id="34020000002000000002", ssrc="0100000001")
    assert text.split("\r\n") == [
        "v=0",
        "o=34020000002000000002 0 0 IN IP4 192.168.1.20",
        "s=Play",
        "c=IN IP4 192.168.1.20",
        "t=0 0",
        "m=video 40000 RTP/AVP 96",
        "a=sendonly",
        "a=rtpmap:96 PS/90000",
        "y=0100000001",
        "",
    ]


@pytest.mark.parametrize(("theirs", "ours"), [("passive", "active"), ("active", "passive")])
def test_tcp_answer_takes_the_opposite_role(theirs: str, ours: str) -> None:
    parsed = parse_offer(tcp(theirs), CHANNEL)
    answer = MediaAnswer("192.168.1.20", 40001, answer_setup(parsed))
    assert answer.setup == ours
    lines = answer_sdp(parsed, answer, our_id="34020000002000000002", ssrc="0100000002").split(
        "\r\n"
    )
    assert "m=video 40001 TCP/RTP/AVP 96" in lines
    assert f"a=setup:{ours}" in lines and "a=connection:new" in lines
    assert lines[-2] == "y=0100000002"
    # what we answer is an offer we could read back: the same transport and payload
    back = parse_offer("\r\n".join(lines).replace("a=sendonly", "a=recvonly"), CHANNEL)
    assert (back.transport, back.payload, back.port, back.ip) == ("tcp", 96, 40001, answer.ip)


def test_answer_refuses_a_bad_ssrc_and_a_tcp_answer_without_role() -> None:
    parsed = parse_offer(tcp("passive"), CHANNEL)
    with pytest.raises(ValueError, match="SSRC"):
        answer_sdp(parsed, MediaAnswer("1.2.3.4", 1, "active"), our_id="x", ssrc="12ab")
    with pytest.raises(ValueError, match="setup role"):
        answer_sdp(parsed, MediaAnswer("1.2.3.4", 1, None), our_id="x", ssrc="1")
