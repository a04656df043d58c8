"""Digest authentication against the RFCs' own examples, and the header we send."""

from __future__ import annotations

import hashlib

import pytest

from relay.gb.digest import (
    Challenge,
    DigestError,
    authorization,
    choose_qop,
    digest_response,
    parse_auth_params,
    parse_challenge,
)

RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"


@pytest.mark.parametrize(
    ("algorithm", "nonce", "cnonce", "expected"),
    [
        # RFC 2617 §3.5
        ("MD5", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b",
         "6629fae49393a05397450978507c4ef1"),
        # RFC 7616 §3.9.1, MD5 and SHA-256
        ("MD5", RFC7616_NONCE, RFC7616_CNONCE, "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", RFC7616_NONCE, RFC7616_CNONCE,
         "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)  # fmt: skip
def test_rfc_examples(algorithm: str, nonce: str, cnonce: str, expected: str) -> None:
    realm = "testrealm@host.com" if nonce.startswith("dcd98") else "http-auth@example.org"
    password = "Circle Of Life" if nonce.startswith("dcd98") else "Circle of Life"
    got = digest_response(
        algorithm=algorithm, username="Mufasa", realm=realm, password=password,
        method="GET", uri="/dir/index.html", nonce=nonce, qop="auth", nc="00000001",
        cnonce=cnonce,
    )  # fmt: skip
    assert got == expected


def test_without_qop_is_rfc2069() -> None:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5("34020000002000000001:3402000000:12345678")
    ha2 = md5("REGISTER:sip:34020000002000000001@3402000000")
    got = digest_response(
        algorithm="MD5", username="34020000002000000001", realm="3402000000",
        password="12345678", method="REGISTER", uri="sip:34020000002000000001@3402000000",
        nonce="n1", qop=None, nc="00000001", cnonce="c",
    )  # fmt: skip
    assert got == md5(f"{ha1}:n1:{ha2}")


def test_md5_sess_differs_from_md5() -> None:
    args = dict(username="u", realm="r", password="p", method="REGISTER", uri="sip:x@y",
                nonce="n", qop="auth", nc="00000001", cnonce="c")  # fmt: skip
    assert digest_response(algorithm="MD5-sess", **args) != digest_response(algorithm="MD5", **args)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Digest realm="3402000000", nonce="abc"', Challenge("3402000000", "abc")),
        ('digest realm="r",nonce="n",qop="auth,auth-int",algorithm=MD5,opaque="o"',
         Challenge("r", "n", "MD5", ("auth", "auth-int"), "o")),
        ('Digest realm="a \\"q\\" b", nonce=n2, stale=TRUE', Challenge('a "q" b', "n2", stale=True)),
        ('Digest realm="r", nonce="n", algorithm=sha-256-sess',
         Challenge("r", "n", "SHA-256-SESS")),
    ],
)  # fmt: skip
def test_parse_challenge(header: str, expected: Challenge) -> None:
    assert parse_challenge(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        'Basic realm="r"',
        'Digest nonce="n"',
        'Digest realm="r"',
        'Digest realm="r", nonce="n", algorithm=SHA-512-256x',
        'Digest realm="r" nonce',
        "Digest",
    ],
)
def test_bad_challenges(header: str) -> None:
    with pytest.raises(DigestError):
        parse_challenge(header)


def test_auth_int_only_is_refused() -> None:
    with pytest.raises(DigestError):
        choose_qop(Challenge("r", "n", qop=("auth-int",)))


def test_authorization_header_answers_the_challenge() -> None:
    challenge = parse_challenge('Digest realm="3402000000", nonce="n1", qop="auth", opaque="op"')
    value = authorization(
        challenge, username="34020000002000000001", password="s3cret!", method="REGISTER",
        uri="sip:34020000002000000001@3402000000", nc=2, cnonce="cn",
    )  # fmt: skip
    assert value.startswith("Digest ")
    params = parse_auth_params(value.removeprefix("Digest "))
    assert "s3cret" not in value
    assert params["nc"] == "00000002" and params["qop"] == "auth" and params["opaque"] == "op"
    assert params["response"] == digest_response(
        algorithm="MD5", username="34020000002000000001", realm="3402000000",
        password="s3cret!", method="REGISTER", uri="sip:34020000002000000001@3402000000",
        nonce="n1", qop="auth", nc="00000002", cnonce="cn",
    )  # fmt: skip


def test_authorization_without_qop_has_no_nc() -> None:
    value = authorization(Challenge("r", "n"), username="u", password="p", method="REGISTER",
                          uri="sip:a@b")  # fmt: skip
    params = parse_auth_params(value.removeprefix("Digest "))
    assert "nc" not in params and "qop" not in params and "cnonce" not in params
