"""Tests for smpcore.artifacts: the checksummed format and the reference
format."""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import smpcore
from smpcore import (
    load_masks_file,
    load_reference_masks,
    pack_masks,
    pack_reference_masks,
    save_masks_file,
    save_reference_masks,
    unpack_masks,
    unpack_reference_masks,
)

from .strategies import bool_masks, nm_masks

mask_dicts = st.dictionaries(
    st.text(min_size=1, max_size=12), bool_masks(), max_size=4
)


def assert_same_masks(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for name, mask in expected.items():
        assert got[name].dtype == np.bool_
        assert got[name].shape == mask.shape
        np.testing.assert_array_equal(got[name], mask)


def split(data: bytes) -> tuple[dict, bytes]:
    """Parses an artifact by hand: (header dict, payload bytes)."""
    _, _, header_len = struct.unpack_from("<8sII", data)
    header = json.loads(data[16 : 16 + header_len])
    return header, data[16 + header_len : -32]


def build(
    header: object,
    payload: bytes,
    version: int = 1,
    magic: bytes = smpcore.MAGIC,
) -> bytes:
    """Builds an artifact with a valid checksum around any header."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = struct.pack("<8sII", magic, version, len(raw)) + raw + payload
    return body + hashlib.sha256(body).digest()


# --- round trip -------------------------------------------------------------


@given(mask_dicts)
def test_round_trip(masks: dict) -> None:
    assert_same_masks(unpack_masks(pack_masks(masks)), masks)


@given(mask_dicts)
def test_header_describes_the_masks(masks: dict) -> None:
    data = pack_masks(masks)
    assert data.startswith(b"\x89SMPMASK")
    header, payload = split(data)
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    assert [e["name"] for e in header["masks"]] == list(masks)
    for entry, mask in zip(header["masks"], masks.values(), strict=True):
        assert entry["shape"] == list(mask.shape)
        assert entry["kept"] == int(mask.sum())
        packbits_len = (mask.size + 7) // 8
        assert entry["length"] <= packbits_len  # never worse than packbits
    assert header["payload_length"] == len(payload)


def test_codec_choice() -> None:
    rng = np.random.default_rng(0)
    sparse = rng.random((300, 200)) < 0.02
    masks = {
        "sparse": sparse,
        "dense": rng.random((30, 20)) < 0.5,
        "mostly_ones": ~sparse,
        "none": np.zeros(100, bool),
        "all": np.ones((3, 3), bool),
        "empty": np.zeros((0, 4), bool),
        "scalar": np.array(True),
    }
    data = pack_masks(masks)
    entries = {e["name"]: e for e in split(data)[0]["masks"]}
    assert entries["sparse"]["codec"] == "elias-fano"
    assert entries["sparse"]["of"] == "ones"
    assert entries["mostly_ones"]["codec"] == "elias-fano"
    assert entries["mostly_ones"]["of"] == "zeros"
    assert entries["dense"]["codec"] == "packbits"
    assert entries["none"]["length"] == entries["all"]["length"] == 0
    assert_same_masks(unpack_masks(data), masks)


@pytest.mark.parametrize("density", [0.01, 0.03, 0.1])
def test_elias_fano_is_near_the_entropy_floor(density: float) -> None:
    mask = np.random.default_rng(1).random((768, 3072)) < density
    header, payload = split(pack_masks({"w": mask}))
    n, m = mask.size, int(mask.sum())
    p = m / n
    floor_bits = n * -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    bound_bits = m * (2 + math.ceil(math.log2(n / m)))  # Elias-Fano bound
    assert len(payload) * 8 <= bound_bits + 16
    assert len(payload) * 8 <= 1.13 * floor_bits


def test_unicode_and_odd_names() -> None:
    masks = {
        "é/ü": np.ones(3, bool),
        "\ud800": np.zeros(2, bool),
        'a"b\\c\n': np.array([[True]]),
        "0": np.zeros((2, 0, 3), bool),
    }
    assert_same_masks(unpack_masks(pack_masks(masks)), masks)


def test_bytearray_and_memoryview_are_accepted() -> None:
    data = pack_masks({"a": np.ones(9, bool)})
    assert_same_masks(unpack_masks(bytearray(data)), {"a": np.ones(9, bool)})
    assert_same_masks(unpack_masks(memoryview(data)), {"a": np.ones(9, bool)})


def test_non_contiguous_masks() -> None:
    mask = (np.arange(24).reshape(4, 6) % 5 == 0).T[::2]
    assert_same_masks(unpack_masks(pack_masks({"t": mask})), {"t": mask})


@pytest.mark.parametrize(
    ("masks", "error", "match"),
    [
        ({"a": np.ones(3, np.uint8)}, TypeError, r"masks\['a'\]"),
        ({"a": [True, False]}, TypeError, r"masks\['a'\]"),
        ({"": np.ones(3, bool)}, ValueError, "non-empty"),
        ({1: np.ones(3, bool)}, TypeError, "masks"),
        ([np.ones(3, bool)], TypeError, "masks"),
    ],
)
def test_pack_rejects_bad_masks(masks: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        pack_masks(masks)  # type: ignore[arg-type]


# --- N:M codec ----------------------------------------------------------------


@given(nm_masks(max_m=34))
def test_nm_masks_round_trip_and_use_nm_rank_when_smaller(case: tuple) -> None:
    mask, n, m = case
    data = pack_masks({"w": mask})
    assert_same_masks(unpack_masks(data), {"w": mask})
    (entry,) = split(data)[0]["masks"]
    assert entry["length"] <= (mask.size + 7) // 8
    if entry["codec"] == "nm-rank":
        # The smallest group size the mask is exact N:M for, at its density.
        assert smpcore.is_nm_mask(mask, entry["n"], entry["m"])
        assert entry["n"] / entry["m"] == n / m and entry["m"] <= m
        assert 1 <= entry["n"] < entry["m"] <= 32


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8), (1, 4), (2, 8)])
def test_nm_rank_is_near_the_entropy_floor(n: int, m: int) -> None:
    scores = np.random.default_rng(2).standard_normal((768, 3072))
    mask = smpcore.nm_mask(scores, n, m)
    header, payload = split(pack_masks({"w": mask}))
    (entry,) = header["masks"]
    assert (entry["codec"], entry["n"], entry["m"]) == ("nm-rank", n, m)
    floor_bits = mask.size // m * math.log2(math.comb(m, n))
    assert len(payload) * 8 <= 1.10 * floor_bits
    assert len(payload) * 8 <= 1.02 * floor_bits + 8  # within 2%, measured
    assert_same_masks(unpack_masks(pack_masks({"w": mask})), {"w": mask})


def test_nm_codec_choice() -> None:
    eye = np.eye(4, dtype=bool)  # 1:4 along axis 0: 4 groups of 2 bits
    one_of_two = np.tile([[True], [False]], (4, 6))  # also 2:4, 4:8, ...
    along_rows = np.tile([True, False], (6, 4))  # N:M along axis 1 only
    tiny = np.array([True, False])  # 1:2, one bit: no smaller than packbits
    masks = {"eye": eye, "one_of_two": one_of_two, "rows": along_rows}
    masks |= {"tiny": tiny, "big_m": np.tile(np.eye(64, dtype=bool), (1, 2))}
    data = pack_masks(masks)
    entries = {e["name"]: e for e in split(data)[0]["masks"]}
    assert (
        entries["eye"]["codec"] == "nm-rank" and entries["eye"]["length"] == 1
    )
    assert (entries["one_of_two"]["n"], entries["one_of_two"]["m"]) == (1, 2)
    assert entries["rows"]["codec"] == "packbits"
    assert entries["tiny"]["codec"] == "packbits"
    assert entries["big_m"]["codec"] == "elias-fano"  # 1:64: m > 32
    assert_same_masks(unpack_masks(data), masks)


def test_masks_that_are_not_nm_are_written_as_before() -> None:
    # Bytes written by smpcore before the N:M codec existed.
    i = np.arange(60 * 40)
    masks = {
        "sparse": (i * 7919 % 101 < 3).reshape(60, 40),
        "dense": (i * 7919 % 101 < 50).reshape(60, 40),
        "mostly_ones": (i * 7919 % 101 >= 2).reshape(60, 40),
        "half": np.array([True, False] * 4),
        "empty": np.zeros((0, 3), bool),
    }
    digest = hashlib.sha256(pack_masks(masks)).hexdigest()
    assert digest == (
        "04a739e107f86aa168dbee6ff1a2528d8210570856247fe48fb216e04db5775d"
    )


def test_artifacts_written_before_the_nm_codec_still_load() -> None:
    # pack_masks({"eye": np.eye(4, dtype=bool), "q": [[1, 0], [0, 1]]}) by
    # smpcore before the N:M codec: both masks in packbits.
    old = bytes.fromhex(
        "89534d504d41534b01000000d60000007b227061796c6f61645f6c656e677468223a"
        "20332c20226d61736b73223a205b7b226e616d65223a2022657965222c2022736861"
        "7065223a205b342c20345d2c20226b657074223a20342c2022636f646563223a2022"
        "7061636b62697473222c20226f6666736574223a20302c20226c656e677468223a20"
        "327d2c207b226e616d65223a202271222c20227368617065223a205b322c20325d2c"
        "20226b657074223a20322c2022636f646563223a20227061636b62697473222c2022"
        "6f6666736574223a20322c20226c656e677468223a20317d5d7d842190354bcec752"
        "3ef681552a5383845db24633a369555b78030faf8b9faa00fe056d"
    )
    expected = {"eye": np.eye(4, dtype=bool), "q": np.eye(2, dtype=bool)}
    assert_same_masks(unpack_masks(old), expected)
    new = pack_masks(expected)
    assert new != old and split(new)[0]["masks"][0]["codec"] == "nm-rank"
    assert_same_masks(unpack_masks(new), expected)


def _bad_nm_headers() -> list:
    """(header, payload, message) for forged "nm-rank" entries."""
    mask = smpcore.nm_mask(np.random.default_rng(3).random((48, 5)), 2, 4)
    header, payload = split(pack_masks({"w": mask}))
    (w,) = header["masks"]
    assert w["codec"] == "nm-rank" and w["length"] == len(payload) == 20

    def forged(**fields: object) -> dict:
        return {**header, "masks": [{**w, **fields}]}

    ones = b"\xff" * 8 + payload[8:]  # first block: 2**63 - 1 > 6**24
    padded = payload[:-1] + bytes([payload[-1] | 1])
    return [
        (forged(n=0), payload, "N:M fields are invalid: n=0"),
        (forged(n=4), payload, "N:M fields"),
        (forged(m=33, n=2), payload, "N:M fields"),
        (forged(m="4"), payload, "N:M fields"),
        (forged(n=True), payload, "N:M fields"),
        (forged(m=5), payload, r"N:M fields .*shape=\(48, 5\)"),
        (forged(shape=[44, 5], kept=110), payload, "N:M payload"),
        (forged(shape=[]), payload, "N:M fields"),
        (forged(n=1, kept=60), payload, "N:M payload has 20 bytes"),
        (forged(kept=119), payload, "kept count"),
        (header, ones, "beyond its range"),
        (header, padded, "padding"),
    ]


# --- corruption -------------------------------------------------------------


@st.composite
def artifacts(draw: st.DrawFn) -> bytes:
    masks = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=4), bool_masks(max_side=12), max_size=3
        )
    )
    return pack_masks(masks)


@given(artifacts(), st.data())
def test_any_flipped_byte_is_rejected(data: bytes, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, len(data) - 1))
    flip = draw.draw(st.integers(1, 255))
    corrupted = bytearray(data)
    corrupted[index] ^= flip
    with pytest.raises(ValueError, match="`data`"):
        unpack_masks(bytes(corrupted))


@given(artifacts(), st.data())
def test_truncated_or_extended_data_is_rejected(
    data: bytes, draw: st.DataObject
) -> None:
    cut = draw.draw(st.integers(0, len(data) - 1))
    with pytest.raises(ValueError, match="`data`"):
        unpack_masks(data[:cut])
    with pytest.raises(ValueError, match="`data`"):
        unpack_masks(data + b"\x00")


def test_specific_envelope_errors() -> None:
    data = pack_masks({"a": np.ones(4, bool)})
    header, payload = split(data)
    with pytest.raises(ValueError, match="bad magic"):
        unpack_masks(b"PK\x03\x04" + data[4:])
    with pytest.raises(ValueError, match="unsupported format version 2"):
        unpack_masks(build(header, payload, version=2))
    with pytest.raises(ValueError, match="checksum"):
        unpack_masks(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ValueError, match="truncated"):
        unpack_masks(data[:20])
    with pytest.raises(TypeError, match="`data`"):
        unpack_masks("not bytes")  # type: ignore[arg-type]


def _bad_headers() -> list:
    """(header or raw bytes, payload, message) with valid checksums."""
    sparse = np.zeros(1000, bool)
    sparse[[3, 500, 999]] = True
    dense = np.arange(16) % 3 != 0
    data = pack_masks({"s": sparse, "d": dense})
    header, payload = split(data)
    s, d = header["masks"]
    cases: list = [
        (b"\xff\xfe", payload, "header"),
        (b"[1, 2]", payload, "header"),
        (b'{"masks": []}', payload, "header"),
        ({**header, "payload_length": 1}, payload, "payload length"),
        ({**header, "masks": "x"}, payload, "payload length"),
        ({**header, "masks": [d, s]}, payload, "entry"),
        ({**header, "masks": [s, {**d, "name": "s"}]}, payload, "names"),
        ({**header, "masks": [s, {**d, "name": ""}]}, payload, "entry"),
        ({**header, "masks": [s, {**d, "shape": [-16]}]}, payload, "entry"),
        ({**header, "masks": [s, {**d, "shape": [4.0, 4]}]}, payload, "entry"),
        ({**header, "masks": [s, {**d, "kept": "1"}]}, payload, "entry"),
        ({**header, "masks": [s, ["d"]]}, payload, "entry"),
        ({**header, "masks": [s, {**d, "kept": 3}]}, payload, "kept count"),
        (
            {**header, "masks": [s, {**d, "shape": [17]}]},
            payload,
            "packbits payload",
        ),
        ({**header, "masks": [s, {**d, "codec": "zstd"}]}, payload, "codec"),
        ({**header, "masks": [{**s, "of": "twos"}, d]}, payload, "'of'"),
        ({**header, "masks": [{**s, "count": -1}, d]}, payload, "'count'"),
        (
            {**header, "masks": [{**s, "count": 2}, d]},
            payload,
            "Elias-Fano payload",
        ),
        (
            {**header, "masks": [{**s, "low_bits": 99}, d]},
            payload,
            "'low_bits'",
        ),
        (
            {**header, "masks": [{**s, "shape": [600]}, d]},
            payload,
            "Elias-Fano",
        ),
    ]
    # Two ones swapped between the low and the high parts: wrong order.
    low_len = (3 * s["low_bits"] + 7) // 8
    broken = bytearray(payload)
    broken[low_len : s["length"]] = b"\xff" * (s["length"] - low_len)
    cases.append((header, bytes(broken), "high bits hold"))
    # Decreasing positions: low parts made larger than the next position.
    broken = bytearray(payload)
    broken[:low_len] = b"\xff" * low_len
    high = np.zeros((s["length"] - low_len) * 8, np.uint8)
    high[[0, 1, 2]] = 1  # all three in bucket 0
    broken[low_len : s["length"]] = np.packbits(high).tobytes()
    cases.append((header, bytes(broken), "increasing"))
    return cases


@pytest.mark.parametrize(
    ("header", "payload", "match"), _bad_headers() + _bad_nm_headers()
)
def test_inconsistent_headers_are_rejected(
    header: object, payload: bytes, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        unpack_masks(build(header, payload))


def test_header_length_past_the_end() -> None:
    body = struct.pack("<8sII", smpcore.MAGIC, 1, 10_000) + b"{}"
    with pytest.raises(ValueError, match="past the end"):
        unpack_masks(body + hashlib.sha256(body).digest())


# --- files ------------------------------------------------------------------


def test_save_and_load_file(tmp_path: Path) -> None:
    masks = {"layer_0/query": np.random.default_rng(0).random((8, 8)) < 0.1}
    path = tmp_path / "task.smpmask"
    save_masks_file(path, masks)
    assert_same_masks(load_masks_file(path), masks)
    assert_same_masks(load_masks_file(str(path)), masks)
    assert os.listdir(tmp_path) == ["task.smpmask"]
    save_masks_file(path, {"other": np.ones(2, bool)})  # overwrite
    assert list(load_masks_file(path)) == ["other"]


def test_failed_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "task.smpmask"
    save_masks_file(path, {"a": np.ones(3, bool)})
    before = path.read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_masks_file(path, {"b": np.zeros(3, bool)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["task.smpmask"]


def test_saved_file_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        save_masks_file(tmp_path / "m.smpmask", {"a": np.ones(3, bool)})
    finally:
        os.umask(old)
    assert (tmp_path / "m.smpmask").stat().st_mode & 0o777 == 0o640


def test_bad_pack_does_not_create_a_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save_masks_file(tmp_path / "x", {"a": np.ones(3)})
    assert os.listdir(tmp_path) == []


# --- reference format -------------------------------------------------------


def pack_reference_oracle(masks: dict) -> list[int]:
    """Pure-Python packing: sorted names, row-major bits, MSB first."""
    bits = [bool(b) for name in sorted(masks) for b in masks[name].flat]
    bits += [False] * (-len(bits) % 8)
    return [
        sum(bit << (7 - j) for j, bit in enumerate(bits[i : i + 8]))
        for i in range(0, len(bits), 8)
    ]


@given(mask_dicts)
def test_reference_pack_matches_oracle_and_round_trips(masks: dict) -> None:
    packed = pack_reference_masks(masks)
    assert packed.dtype == np.uint8 and packed.ndim == 1
    assert packed.tolist() == pack_reference_oracle(masks)
    shapes = {name: mask.shape for name, mask in masks.items()}
    assert_same_masks(unpack_reference_masks(packed, shapes), masks)


def test_reference_order_is_lexicographic() -> None:
    masks = {f"layer.{i}": np.full(1, i in (1, 10)) for i in (2, 10, 1)}
    # Sorted: layer.1, layer.10, layer.2 -> bits 1, 1, 0.
    assert pack_reference_masks(masks).tolist() == [0b11000000]


def test_reference_size_mismatch_states_bit_counts() -> None:
    packed = pack_reference_masks({"a": np.ones((3, 5), bool)})  # 15 bits
    with pytest.raises(
        ValueError, match="must hold 20 bits.*Received: 16 bits"
    ):
        unpack_reference_masks(packed, {"a": (4, 5)})
    with pytest.raises(ValueError, match="padding"):
        unpack_reference_masks(np.array([255, 255], np.uint8), {"a": (15,)})
    with pytest.raises(TypeError, match="packed"):
        unpack_reference_masks(packed.astype(np.int64), {"a": (3, 5)})
    with pytest.raises(TypeError, match="shapes"):
        unpack_reference_masks(packed, {"a": "35"})
    with pytest.raises(ValueError, match=r"shapes\['a'\]\[0\]"):
        unpack_reference_masks(packed, {"a": (-3, -5)})


def test_reference_file_round_trip(tmp_path: Path) -> None:
    masks = {"b": np.eye(3, dtype=bool), "a": np.ones((2, 5), bool)}
    path = tmp_path / "mnli_0.10_kd_mag"  # no .npy suffix is added
    save_reference_masks(path, masks)
    assert os.listdir(tmp_path) == ["mnli_0.10_kd_mag"]
    raw = np.load(path, allow_pickle=False)
    assert raw.tolist() == pack_reference_oracle(masks)
    shapes = {"b": (3, 3), "a": (2, 5)}
    assert_same_masks(load_reference_masks(path, shapes), masks)


def test_reference_load_refuses_pickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_reference_masks(path, {"a": (1,)})
