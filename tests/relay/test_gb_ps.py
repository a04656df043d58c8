"""The PS packer (relay/gb/ps.py): bit layouts, PES splitting, and real ffprobe/ffmpeg on its
output."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.annexb import AnnexB
from relay.gb.ps import (
    MAX_PES_LENGTH,
    SCR_LEAD,
    STREAM_ID_VIDEO,
    STREAM_TYPE_H264,
    STREAM_TYPE_H265,
    TIMESTAMP_MOD,
    PsError,
    crc32_mpeg2,
    decode_scr,
    decode_timestamp,
    encode_scr,
    encode_timestamp,
    pack_header,
    parse_pack_header,
    parse_pes,
    pes_packets,
    program_stream_map,
    ps_frame,
    split_access_unit,
    split_units,
    stream_types,
    system_header,
)
from tests.support.clips import make_clip
from tests.support.rtsp import SYSTEM_PYTHON, rtsp_server_available

timestamps = st.integers(0, TIMESTAMP_MOD - 1)


# --- bit layouts -------------------------------------------------------------------------------


def test_crc32_mpeg2_check_value_and_self_check() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the catalogued check value
    psm = program_stream_map()
    assert crc32_mpeg2(psm) == 0  # a map followed by its CRC_32 checks to zero
    broken = bytearray(psm)
    broken[-6] ^= 0x01
    assert crc32_mpeg2(bytes(broken)) != 0


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (0, "440004000401"),  # only '01' and the marker bits
        (1, "440004000c01"),  # bit 0 of the base sits just above the last-but-one marker
        (3600, "440004708401"),  # 3600 << 11 in the low 26 bits
        (1 << 15, "44000c000401"),  # bit 15 starts the middle field, above the middle marker
        (1 << 30, "4c0004000401"),  # bit 30 starts the top field, below '01'
    ],
)
def test_scr_bit_layout(base: int, expected: str) -> None:
    encoded = encode_scr(base)
    assert encoded.hex() == expected
    assert decode_scr(encoded) == (base, 0)


def test_scr_bit_layout_by_hand() -> None:
    # 33 bits of ones: '01' 111 1 <15 ones> 1 <15 ones> 1 <9-bit extension 0> 1
    bits = "01" + "111" + "1" + "1" * 15 + "1" + "1" * 15 + "1" + "0" * 9 + "1"
    assert encode_scr(TIMESTAMP_MOD - 1) == int(bits, 2).to_bytes(6, "big")
    assert encode_scr(0).hex() == "440004000401"


@given(base=timestamps, extension=st.integers(0, 299))
def test_scr_round_trips(base: int, extension: int) -> None:
    assert decode_scr(encode_scr(base, extension)) == (base, extension)


@given(prefix=st.sampled_from([0b0010, 0b0011, 0b0001]), ts=timestamps)
def test_pts_dts_round_trip(prefix: int, ts: int) -> None:
    assert decode_timestamp(encode_timestamp(prefix, ts)) == (prefix, ts)


@pytest.mark.parametrize(
    ("prefix", "ts", "expected"),
    [
        (0b0010, 0, "2100010001"),
        (0b0010, 3600, "2100011c21"),  # 3600 << 1 | 1 = 0x1C21
        (0b0011, 1 << 30, "3300010001"),  # bit 30 lands in the first byte's low bits
        (0b0001, 1 << 15, "1100030001"),
    ],
)
def test_pts_dts_bit_layout(prefix: int, ts: int, expected: str) -> None:
    assert encode_timestamp(prefix, ts).hex() == expected


def test_timestamps_wrap_at_33_bits() -> None:
    assert decode_timestamp(encode_timestamp(2, TIMESTAMP_MOD + 5))[1] == 5
    assert decode_scr(encode_scr(TIMESTAMP_MOD + 7))[0] == 7


@pytest.mark.parametrize(
    "field", [b"\x00" * 6, bytes.fromhex("440004000400"), bytes.fromhex("040004000401")]
)
def test_scr_with_bad_markers_is_refused(field: bytes) -> None:
    with pytest.raises(PsError):
        decode_scr(field)


def test_pack_header_layout() -> None:
    header = pack_header(90_000, mux_rate=6106)
    assert len(header) == 14 and header[:4] == b"\x00\x00\x01\xba"
    assert parse_pack_header(header) == (90_000, 6106)
    assert header[13] == 0xF8  # reserved bits, no stuffing
    with pytest.raises(ValueError):
        pack_header(0, mux_rate=0)


def test_system_header_declares_one_video_stream() -> None:
    header = system_header()
    assert header[:4] == b"\x00\x00\x01\xbb"
    assert int.from_bytes(header[4:6], "big") == len(header) - 6 == 9
    assert header[10] & 0x1F == 1 and header[9] >> 2 == 0  # video_bound 1, audio_bound 0
    assert header[12] == STREAM_ID_VIDEO and header[13] >> 6 == 0b11


@pytest.mark.parametrize("stream_type", [STREAM_TYPE_H264, STREAM_TYPE_H265])
def test_program_stream_map_names_the_codec(stream_type: int) -> None:
    psm = program_stream_map(stream_type)
    assert int.from_bytes(psm[4:6], "big") == len(psm) - 6
    assert stream_types(psm) == {STREAM_ID_VIDEO: stream_type}


# --- PES splitting -----------------------------------------------------------------------------


@given(size=st.integers(0, 300_000), first=st.integers(1, 70_000), rest=st.integers(1, 70_000))
def test_split_access_unit_covers_in_order_within_limits(size: int, first: int, rest: int) -> None:
    chunks = split_access_unit(size, first, rest)
    starts = [0, *[end for _, end in chunks[:-1]]] if chunks else []
    assert [start for start, _ in chunks] == starts
    assert (chunks[-1][1] if chunks else 0) == size
    assert all(end > start for start, end in chunks)
    assert all(end - start <= (first if i == 0 else rest) for i, (start, end) in enumerate(chunks))


FIRST_PES = 65_527  # 65 535 - 3 flag/length bytes - 5 PTS bytes
NEXT_PES = 65_532  # no timestamps on the continuation packets


@pytest.mark.parametrize(
    ("size", "count"),
    [(1, 1), (FIRST_PES, 1), (FIRST_PES + 1, 2), (FIRST_PES + NEXT_PES, 2),
     (FIRST_PES + NEXT_PES + 1, 3)],
)  # fmt: skip
def test_access_units_split_at_the_pes_length_limit(size: int, count: int) -> None:
    packets = pes_packets(bytes(size), pts=1000)
    assert len(packets) == 2 * count  # header, payload, header, payload ...
    units = [b"".join(packets[i : i + 2]) for i in range(0, len(packets), 2)]
    assert all(int.from_bytes(u[4:6], "big") == len(u) - 6 <= MAX_PES_LENGTH for u in units)
    full = [len(u) - 6 == MAX_PES_LENGTH for u in units]
    assert full == [True] * (count - 1) + [size in (FIRST_PES, FIRST_PES + NEXT_PES)]


@given(
    au=st.binary(min_size=1, max_size=200_000).map(lambda b: b * (1 + 150_000 // len(b))),
    pts=timestamps,
    lead=st.integers(0, 9000),
)
def test_pes_packets_round_trip(au: bytes, pts: int, lead: int) -> None:
    dts = pts - lead
    units = list(split_units(b"".join(pes_packets(au, pts, dts))))
    parsed = [parse_pes(unit) for _, unit in units]
    assert b"".join(p.payload for p in parsed) == au
    assert all(len(unit) - 6 <= MAX_PES_LENGTH for _, unit in units)
    assert parsed[0].pts == pts % TIMESTAMP_MOD
    assert parsed[0].dts == (None if lead == 0 else dts % TIMESTAMP_MOD)
    assert all(p.pts is None and p.dts is None for p in parsed[1:])


def test_ps_frame_layout_for_key_and_delta_frames() -> None:
    au = b"\x00\x00\x00\x01\x65" + bytes(100_000)
    key = list(split_units(ps_frame(au, pts=SCR_LEAD + 3600, keyframe=True)))
    assert [code for code, _ in key] == [0xBA, 0xBB, 0xBC, 0xE0, 0xE0]
    assert parse_pack_header(key[0][1])[0] == 3600  # SCR = PTS - 40 ms
    assert stream_types(key[2][1]) == {0xE0: STREAM_TYPE_H264}
    delta = list(split_units(ps_frame(b"\x00\x00\x00\x01\x41xyz", pts=10, keyframe=False)))
    assert [code for code, _ in delta] == [0xBA, 0xE0]
    assert parse_pack_header(delta[0][1])[0] == 0  # never below 0
    with pytest.raises(ValueError):
        ps_frame(b"", pts=0, keyframe=True)


@pytest.mark.parametrize(
    "data",
    [b"\x00\x00\x02\xba", b"garbage", b"\x00\x00\x01\xba\x44", b"\x00\x00\x01\xe0\x00\x10ab",
     b"\x00\x00\x01\x65\x00\x00"],
)  # fmt: skip
def test_split_units_refuses_what_is_not_ps(data: bytes) -> None:
    with pytest.raises(PsError):
        list(split_units(data))


# --- real ffprobe / ffmpeg ---------------------------------------------------------------------

FILLER_NAL = b"\x00\x00\x00\x01\x0c" + b"\xff" * 150_000 + b"\x80"  # H.264 filler data


def require_ffmpeg() -> None:
    """ffmpeg and ffprobe: a skip where they are missing, a failure in CI (which installs them)."""
    if shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None:
        if os.environ.get("CI"):
            pytest.fail("ffmpeg/ffprobe are required in CI (Debian package ffmpeg)", pytrace=False)
        pytest.skip("ffmpeg/ffprobe not installed")


def ffprobe_video(path: Path) -> dict[str, Any]:
    """codec_name, width, height and nb_read_frames of the first video stream, by ffprobe."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames:format=format_name", "-of", "json",
         str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    probed = json.loads(result.stdout)
    assert probed["streams"], f"ffprobe found no video stream in {path}: {result.stderr}"
    stream: dict[str, Any] = probed["streams"][0]
    stream["format_name"] = probed["format"]["format_name"]
    return stream


def ffmpeg_decode_errors(path: Path) -> str:
    """What ffmpeg says (at level error) while decoding the whole file; '' when it is clean."""
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.stderr.strip() or ("" if result.returncode == 0 else f"rc {result.returncode}")


GST_PS_READER = """
import json
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
pipeline = Gst.parse_launch(
    "fdsrc fd=0 ! mpegpsdemux ! h264parse ! video/x-h264,alignment=au ! appsink name=sink"
    " sync=false"
)
sink = pipeline.get_by_name("sink")
pipeline.set_state(Gst.State.PLAYING)
frames, caps = 0, None
while True:
    sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
    if sample is None:
        break
    frames += 1
    caps = caps or sample.get_caps().get_structure(0)
pipeline.set_state(Gst.State.NULL)
print(json.dumps({"frames": frames, "codec": caps.get_name() if caps else None,
                  "width": caps.get_value("width") if caps else None,
                  "height": caps.get_value("height") if caps else None}))
"""


def gstreamer_ps(path: Path) -> dict[str, Any]:
    """GStreamer's mpegpsdemux (a second, independent PS reader that maps streams by the
    program stream map) on `path`: access units, caps name, width and height. The file comes
    through a pipe, as a live receiver reads it (from a seekable file, mpegpsdemux starts its
    segment after the first PTS and clips the first frame, ours or not).

    (It finds no video at all in what libavformat's `mpeg` muxer makes of H.264: that has no
    program stream map.)"""
    if rtsp_server_available() is not None:
        pytest.skip("GStreamer via Debian's python3-gi is not available")
    with path.open("rb") as stdin:
        result = subprocess.run(
            [str(SYSTEM_PYTHON), "-c", GST_PS_READER], stdin=stdin,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    if "no element" in result.stderr.lower():
        pytest.skip(f"GStreamer mpegpsdemux missing: {result.stderr.strip()[-200:]}")
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def write_ps(clip: Path, out: Path, *, pad_keyframes: bool = False) -> int:
    """The clip (MP4, AVCC) as a PS file made by ps_frame; returns the number of frames."""
    frames = 0
    with av.open(str(clip)) as container, out.open("wb") as sink:
        stream = container.streams.video[0]
        annexb = AnnexB(stream, bytes(stream.codec_context.extradata or b""))
        assert annexb.converts  # MP4 is AVCC: parameter sets come from extradata
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            data = annexb.convert(packet, packet.is_keyframe)
            if pad_keyframes and packet.is_keyframe:
                data += FILLER_NAL  # keyframes over two PES packets' worth
            pts = SCR_LEAD + round(packet.pts * stream.time_base * 90_000)
            sink.write(ps_frame(data, pts, keyframe=packet.is_keyframe))
            frames += 1
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("ps") / "clip.mp4", seconds=3, fps=10,
                     size=(320, 240))  # fmt: skip


@pytest.mark.parametrize("pad_keyframes", [False, True])
def test_ffprobe_reads_our_ps_as_h264(clip: Path, tmp_path: Path, pad_keyframes: bool) -> None:
    require_ffmpeg()
    out = tmp_path / "out.ps"
    frames = write_ps(clip, out, pad_keyframes=pad_keyframes)
    assert frames == 30
    probed = ffprobe_video(out)
    assert probed["format_name"] == "mpeg"
    assert (probed["codec_name"], probed["width"], probed["height"]) == ("h264", 320, 240)
    assert int(probed["nb_read_frames"]) == frames
    assert ffmpeg_decode_errors(out) == ""
    assert gstreamer_ps(out) == {"frames": frames, "codec": "video/x-h264", "width": 320,
                                 "height": 240}  # fmt: skip
    if pad_keyframes:
        first = itertools.islice(split_units(out.read_bytes()), 6)
        assert [code for code, _ in first] == [0xBA, 0xBB, 0xBC, 0xE0, 0xE0, 0xE0]


def test_ffmpeg_notices_a_broken_ps(clip: Path, tmp_path: Path) -> None:
    """The ffprobe checks above can fail: a PS whose frames lost their middle does not pass."""
    require_ffmpeg()
    good = tmp_path / "good.ps"
    write_ps(clip, good)
    data = good.read_bytes()
    units = list(split_units(data))
    kept = b"".join(unit for i, (code, unit) in enumerate(units) if code != 0xE0 or i % 3)
    broken = tmp_path / "broken.ps"
    broken.write_bytes(kept)
    probed = ffprobe_video(broken)
    assert int(probed["nb_read_frames"]) < 30 or ffmpeg_decode_errors(broken) != ""
