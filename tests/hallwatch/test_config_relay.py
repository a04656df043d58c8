"""relay: in cameras.yaml: valid settings load; each mistake is located; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.admin import redacted_site
from hallwatch.config import ConfigError, load_site
from hallwatch.config_edit import restart_reasons
from tests.support.tls import make_private_ca

BASE = """\
name: 测试中心
cameras:
  - id: cam01
    name: 一号
    url: rtsp://user:secret@192.0.2.1/stream
  - id: cam02
    name: 二号
    url: file:clip.mp4
"""

RELAY = """\
relay:
  push:
    - camera: cam01
      url: rtmp://pusher:pushpass@198.51.100.7/live/cam01
  gb28181:
    server_id: "34020000002000000001"
    server_domain: "3402000000"
    server_ip: 198.51.100.9
    platform_id: "34020000002000000002"
    password: gbsecret
    channels:
      - {camera: cam01, channel_id: "34020000001320000001"}
      - {camera: cam02, channel_id: "34020000001320000002", stream: sub}
  upload:
    url: https://platform.example/api/alarms
    key: uploadkey
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "cameras.yaml"
    path.write_text(text, encoding="utf-8")
    return load_site(path)


def test_relay_loads_with_defaults(tmp_path: Path) -> None:
    site = load(tmp_path, BASE + RELAY)
    gb = site.relay.gb28181
    assert gb is not None
    assert (gb.register_expires_s, gb.keepalive_interval_s, gb.keepalive_max_failures) == (
        3600,
        60.0,
        3,
    )
    assert (gb.transport, gb.charset, gb.server_port) == ("udp", "GB2312", 5060)
    assert [c.stream for c in gb.channels] == ["main", "sub"]
    assert site.relay.push[0].stream == "main"
    assert site.relay.upload is not None and site.relay.upload.batch_size == 50
    assert load(tmp_path, BASE).relay.gb28181 is None  # relay is optional


CASES = [
    ("unknown camera", ("- camera: cam01\n      url", "- camera: cam09\n      url"),
     "relay.push[0].camera", "unknown camera 'cam09'"),
    ("push scheme", ("rtmp://pusher", "http://pusher"), "relay.push[0].url", "rtsp:// or rtmp://"),
    ("short channel id", ('channel_id: "34020000001320000002"', 'channel_id: "3402"'),
     "relay.gb28181.channels[1].channel_id", "pattern"),
    ("repeated channel id", ('"34020000001320000002"', '"34020000001320000001"'),
     "relay.gb28181.channels[1].channel_id", "already used by relay.gb28181.channels[0]"),
    ("channel is the platform", ('"34020000001320000002"', '"34020000002000000002"'),
     "relay.gb28181.channels[1].channel_id", "already used by relay.gb28181.platform_id"),
    ("unknown channel camera", ("{camera: cam02", "{camera: cam07"),
     "relay.gb28181.channels[1].camera", "unknown camera 'cam07'"),
    ("bad transport", ("    password: gbsecret", "    password: gbsecret\n    transport: sctp"),
     "relay.gb28181.transport", "'udp' or 'tcp'"),
    ("upload scheme", ("https://platform", "ftp://platform"), "relay.upload.url", "http://"),
    ("missing key", ("    key: uploadkey\n", ""), "relay.upload.key", "required key 'key'"),
    ("ca_file on http", ("https://platform", "http://platform\n    ca_file: ca.pem"),
     "relay.upload.ca_file", "ca_file is for an https:// URL"),
    ("ca_file missing", ("key: uploadkey\n", "key: uploadkey\n    ca_file: pki/none.pem\n"),
     "relay.upload.ca_file", "no such file: "),
    ("ca_file not PEM", ("key: uploadkey\n", "key: uploadkey\n    ca_file: notes.txt\n"),
     "relay.upload.ca_file", "no PEM CA certificate could be read from "),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "key", "reason"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_each_relay_mistake_is_located(
    tmp_path: Path, change: tuple[str, str], key: str, reason: str
) -> None:
    old, new = change
    text = BASE + RELAY
    (tmp_path / "notes.txt").write_text("not a certificate\n", encoding="utf-8")
    assert old in text
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text.replace(old, new, 1))
    [problem] = caught.value.problems
    assert problem.key == key, str(problem)
    assert reason in problem.reason
    assert problem.line is not None


def test_relay_secrets_are_redacted_and_a_change_needs_a_restart(tmp_path: Path) -> None:
    site = load(tmp_path, BASE + RELAY)
    shown = str(redacted_site(site))
    for secret in ("pushpass", "gbsecret", "uploadkey", "user:secret"):
        assert secret not in shown
    assert "198.51.100.7/live/cam01" in shown
    edited = load(tmp_path, BASE + RELAY.replace("uploadkey", "otherkey"))
    assert [r.code for r in restart_reasons(site, edited)] == ["relay"]


def test_ca_file_is_read_relative_to_the_config_file(tmp_path: Path) -> None:
    ca = make_private_ca(tmp_path / "pki")
    text = BASE + RELAY + "    ca_file: pki/ca.pem\n"
    upload = load(tmp_path, text).relay.upload
    assert upload is not None and upload.ca_file == "pki/ca.pem"
    absolute = load(tmp_path, text.replace("pki/ca.pem", str(ca.ca_file))).relay.upload
    assert absolute is not None and absolute.ca_file == str(ca.ca_file)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match=r"relay.upload.ca_file: no such file: .*pki/ca.pem"):
        load(elsewhere, text)
