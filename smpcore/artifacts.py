"""Mask artifacts: a compact checksummed format and the reference format.

An SMP task is fully described by its masks (Jiang et al., ACL 2023,
arXiv:2210.06210, section 1). Two formats are provided.

**The smpcore format** (:func:`pack_masks`, suggested extension
``.smpmask``), little-endian, no pickle::

    magic      8 bytes   b"\\x89SMPMASK"
    version    uint32    1
    header_len uint32    length of the header in bytes
    header     JSON      {"payload_length": int, "masks": [{"name": str,
                         "shape": [int, ...], "kept": int, "codec": str,
                         "offset": int, "length": int, ...codec fields}]}
    payloads   bytes     one per mask, at header offsets (from payload start)
    checksum   32 bytes  SHA-256 of everything above

Each mask is stored flattened in row-major order with the smallest of three
codecs: ``"packbits"`` (one bit per entry), ``"elias-fano"`` (the
positions of the ones, or of the zeros when more than half are ones; extra
fields ``of``, ``count``, ``low_bits``) or ``"nm-rank"`` for exact N:M
masks (:func:`smpcore.nm_mask`: ``n`` kept in every group of ``m``
consecutive entries along axis 0, ``m <= 32``; each group's combinatorial
rank, packed in base ``C(m, n)``; extra fields ``n``, ``m``). Elias-Fano
needs about ``k (2 + log2(size / k))`` bits for ``k`` positions, near the
entropy floor for sparse masks; ``"nm-rank"`` needs at most
``log2 C(m, n) + 1/b`` bits per group (``b`` groups share a 64-bit block:
24 for 2:4, 10 for 4:8), within 2% of the floor ``log2 C(m, n)`` of the
N:M structure for both. The N:M structure is detected, not declared, and
used only when strictly smaller, so every other mask is written exactly as
before. ``"nm-rank"`` came without a version change (a new codec name, as
the header allows): older readers refuse such a mask with "unknown mask
codec" and read every other artifact as before. Reading checks, in order,
the magic, the version, the checksum, the consistency of the header with
the payloads and the total number of entries it declares (at most
:data:`MAX_ENTRIES`); any failure raises `ValueError` and nothing is
returned.

**The reference format** of the authors' code (section 6 of the method
notes): one ``np.packbits`` of all flattened masks concatenated in
lexicographically sorted name order, saved with ``np.save``. It records no
names or shapes, so loading needs them. Masks are stored as given: the
reference uses PyTorch's ``(out, in)`` layout, so callers transpose Keras
``(in, out)`` masks on export and import; this module does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from smpcore import _codecs
from smpcore.validation import (
    as_array,
    as_bool_array,
    check_mapping,
    check_shape,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_ENTRIES",
    "atomic_write",
    "load_masks_file",
    "load_reference_masks",
    "pack_masks",
    "pack_reference_masks",
    "save_masks_file",
    "save_reference_masks",
    "unpack_masks",
    "unpack_reference_masks",
]

MAGIC = b"\x89SMPMASK"
FORMAT_VERSION = 1
#: Most mask entries (weights) an artifact may declare in all: a header
#: could claim huge all-zero masks that take no payload bytes, so the total
#: is bounded before anything is decoded (2**32: 12x BERT-large).
MAX_ENTRIES = 2**32
_PREFIX = struct.Struct("<8sII")
_DIGEST_SIZE = hashlib.sha256().digest_size

PathLike = str | os.PathLike[str]


def _checked_masks(masks: Any) -> dict[str, np.ndarray]:
    """Checks a mapping of non-empty names to bool arrays."""
    check_mapping(masks, "masks")
    return {
        name: as_bool_array(mask, f"masks[{name!r}]")
        for name, mask in masks.items()
    }


def pack_masks(masks: Mapping[str, np.ndarray]) -> bytes:
    """Serialises boolean masks into the versioned, checksummed format.

    Args:
        masks: Mapping of names (non-empty str) to bool arrays of any shape,
            0-size included. The order is kept.

    Returns:
        The artifact as `bytes` (see the module docstring for the layout).

    Raises:
        TypeError: If `masks` is not a mapping of str to bool arrays.
        ValueError: If a name is empty.

    Example:
        >>> masks = {"q": np.array([[True, False], [False, False]])}
        >>> restored = unpack_masks(pack_masks(masks))
        >>> restored["q"].tolist()
        [[True, False], [False, False]]
    """
    entries, payloads, offset = [], [], 0
    for name, mask in _checked_masks(masks).items():
        flat = np.ascontiguousarray(mask).ravel()
        codec, params, payload = _codecs.encode(flat, mask.shape)
        entries.append(
            {
                "name": name,
                "shape": list(mask.shape),
                "kept": int(np.count_nonzero(flat)),
                "codec": codec,
                "offset": offset,
                "length": len(payload),
                **params,
            }
        )
        payloads.append(payload)
        offset += len(payload)
    header = json.dumps({"payload_length": offset, "masks": entries})
    raw_header = header.encode("utf-8")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(raw_header))
    body = b"".join([prefix, raw_header, *payloads])
    return body + hashlib.sha256(body).digest()


def _checked_envelope(data: Any) -> tuple[bytes, bytes]:
    """Checks magic, version and checksum: returns (header, payload)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(
            f"`data` must be bytes. Received: {type(data).__name__}"
        )
    data = bytes(data)
    if len(data) < _PREFIX.size + _DIGEST_SIZE:
        raise ValueError(
            f"`data` is truncated: {len(data)} bytes is shorter than any "
            "mask artifact"
        )
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"`data` is not a mask artifact (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"`data` has unsupported format version {version}; this smpcore "
            f"reads version {FORMAT_VERSION}"
        )
    body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("`data` checksum mismatch: corrupted or truncated")
    end = _PREFIX.size + header_len
    if end > len(body):
        raise ValueError("`data` header is inconsistent: length past the end")
    return body[_PREFIX.size : end], body[end:]


def _checked_header(raw: bytes, payload_length: int) -> list[dict[str, Any]]:
    """Parses the JSON header and checks its offsets against the payload."""
    try:
        header = json.loads(raw.decode("utf-8"))
        entries = header["masks"]
        declared = header["payload_length"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"`data` header is inconsistent: {error}") from None
    if declared != payload_length or not isinstance(entries, list):
        raise ValueError("`data` header is inconsistent: payload length")
    offset, names = 0, set()
    for entry in entries:
        _check_entry(entry, offset)
        names.add(entry["name"])
        offset += entry["length"]
    if offset != payload_length or len(names) != len(entries):
        raise ValueError("`data` header is inconsistent: offsets or names")
    declared = sum(math.prod(entry["shape"]) for entry in entries)
    if declared > MAX_ENTRIES:
        raise ValueError(
            f"`data` header declares {declared} mask entries, more than "
            f"MAX_ENTRIES={MAX_ENTRIES}: refused before decoding"
        )
    return entries


def _check_entry(entry: Any, offset: int) -> None:
    """Checks the fields of one header entry."""
    ok = isinstance(entry, dict) and isinstance(entry.get("name"), str)
    ok = ok and bool(entry["name"]) and isinstance(entry.get("shape"), list)
    ok = ok and all(type(v) is int and v >= 0 for v in entry.get("shape", ()))
    ok = ok and all(
        type(entry.get(key)) is int for key in ("kept", "offset", "length")
    )
    if not ok or entry["offset"] != offset or entry["length"] < 0:
        raise ValueError(f"`data` header is inconsistent: entry {entry!r}")


def _decode_entry(entry: dict[str, Any], payload: bytes) -> np.ndarray:
    """Decodes one mask and checks its kept count."""
    shape = tuple(entry["shape"])
    chunk = payload[entry["offset"] : entry["offset"] + entry["length"]]
    try:
        flat = _codecs.decode(entry["codec"], entry, chunk, shape)
    except ValueError as error:
        raise ValueError(
            f"`data` header is inconsistent for mask {entry['name']!r}: {error}"
        ) from None
    if int(np.count_nonzero(flat)) != entry["kept"]:
        raise ValueError(
            f"`data` header is inconsistent: kept count of {entry['name']!r}"
        )
    return flat.reshape(shape)


def unpack_masks(data: bytes) -> dict[str, np.ndarray]:
    """Reads masks written by :func:`pack_masks`.

    Args:
        data: The artifact bytes (`bytes`, `bytearray` or `memoryview`).

    Returns:
        A dict of names to new bool arrays, in the order they were packed.

    Raises:
        TypeError: If `data` is not bytes-like.
        ValueError: If `data` is truncated, has a bad magic or an unsupported
            version, fails its checksum, or its header is inconsistent.

    Example:
        >>> unpack_masks(pack_masks({"b": np.ones(3, dtype=bool)}))
        {'b': array([ True,  True,  True])}
    """
    raw_header, payload = _checked_envelope(data)
    entries = _checked_header(raw_header, len(payload))
    return {entry["name"]: _decode_entry(entry, payload) for entry in entries}


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Writes a file through a temporary sibling, fsync and `os.replace`.

    `write` is called with the open binary temporary file; the file appears
    under `path` only once it is complete, and the temporary file is removed
    if `write` fails. The folder must exist.

    Args:
        path: Destination file.
        write: Called once with the open binary temporary file.

    Raises:
        OSError: If the folder does not exist or the file cannot be
            written; whatever `write` raises is re-raised. In both cases
            nothing is left under `path` or beside it.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "x.bin")
        >>> atomic_write(path, lambda f: f.write(b"ok"))
        >>> open(path, "rb").read()
        b'ok'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder
    )
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(file: IO[bytes], data: bytes) -> None:
    """Writes `data` to `file`."""
    file.write(data)


def save_masks_file(path: PathLike, masks: Mapping[str, np.ndarray]) -> None:
    """Writes :func:`pack_masks` output to `path` atomically.

    The bytes go to a temporary file in the same folder, are flushed to disk
    and renamed over `path`, so `path` never holds a partial artifact.
    Suggested extension: ``.smpmask``.

    Args:
        path: Destination file path.
        masks: Mapping of names to bool arrays (see :func:`pack_masks`).

    Raises:
        TypeError: If `masks` is not a mapping of str to bool arrays.
        OSError: If the file cannot be written.
    """
    data = pack_masks(masks)
    atomic_write(path, lambda file: _write_all(file, data))


def load_masks_file(path: PathLike) -> dict[str, np.ndarray]:
    """Reads a file written by :func:`save_masks_file`.

    Raises:
        ValueError: If the file is not a valid, intact mask artifact.
        OSError: If the file cannot be read.
    """
    with open(path, "rb") as file:
        return unpack_masks(file.read())


def pack_reference_masks(masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Packs masks in the authors' format: sorted names, one `packbits`.

    The masks are flattened (row-major) and concatenated in
    lexicographically sorted name order (``layer.1`` < ``layer.10`` <
    ``layer.2``), then packed with ``np.packbits`` (big-endian bits, zero
    padding). No transposition is done: pass masks in the reference's
    PyTorch ``(out, in)`` layout.

    Args:
        masks: Mapping of names to bool arrays.

    Returns:
        A 1-D uint8 array of ``ceil(total / 8)`` bytes.

    Raises:
        TypeError: If `masks` is not a mapping of str to bool arrays.

    Example:
        >>> masks = {"b": np.ones(3, bool), "a": np.zeros(6, bool)}
        >>> pack_reference_masks(masks)  # a (6 zeros), then b (3 ones)
        array([  3, 128], dtype=uint8)
    """
    checked = _checked_masks(masks)
    flats = [checked[name].ravel() for name in sorted(checked)]
    return np.packbits(np.concatenate([np.zeros(0, bool), *flats]))


def _checked_shapes(shapes: Any) -> dict[str, tuple[int, ...]]:
    """Checks a mapping of names to shapes."""
    check_mapping(shapes, "shapes")
    return {
        name: check_shape(shape, f"shapes[{name!r}]")
        for name, shape in shapes.items()
    }


def unpack_reference_masks(
    packed: np.ndarray, shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_reference_masks`.

    Args:
        packed: 1-D uint8 array from :func:`pack_reference_masks`.
        shapes: Mapping of every mask name to its shape (in the layout the
            masks were packed in: ``(out, in)`` for reference files).

    Returns:
        A dict of names to bool arrays, in the order of `shapes`.

    Raises:
        TypeError: If `packed` is not a uint8 array.
        ValueError: If `packed` does not hold exactly the bits the shapes
            need (the message gives expected and received bit counts), or
            its padding bits are not zero.

    Example:
        >>> packed = np.array([3, 128], dtype=np.uint8)
        >>> unpack_reference_masks(packed, {"a": (2, 3), "b": (3,)})["b"]
        array([ True,  True,  True])
    """
    checked = _checked_shapes(shapes)
    packed = as_array(packed, "packed")
    if packed.dtype != np.uint8 or packed.ndim != 1:
        raise TypeError(
            "`packed` must be a 1-D uint8 array. Received: "
            f"dtype={packed.dtype}, shape={packed.shape}"
        )
    sizes = {name: math.prod(shape) for name, shape in checked.items()}
    total = sum(sizes.values())
    if packed.size != (total + 7) // 8:
        raise ValueError(
            f"`packed` must hold {total} bits ({(total + 7) // 8} bytes) for "
            f"`shapes`. Received: {packed.size * 8} bits ({packed.size} bytes)"
        )
    bits = np.unpackbits(packed).astype(bool)
    if bits[total:].any():
        raise ValueError("`packed` has non-zero padding bits after the masks")
    masks, start = {}, 0
    for name in sorted(checked):
        masks[name] = bits[start : start + sizes[name]].reshape(checked[name])
        start += sizes[name]
    return {name: masks[name] for name in checked}


def save_reference_masks(
    path: PathLike, masks: Mapping[str, np.ndarray]
) -> None:
    """Saves :func:`pack_reference_masks` output as ``.npy``, atomically.

    Written with ``np.save(..., allow_pickle=False)`` through a temporary
    file in the same folder; `path` is used as given (no ``.npy`` is
    appended).

    Raises:
        TypeError: If `masks` is not a mapping of str to bool arrays.
        OSError: If the file cannot be written.
    """
    packed = pack_reference_masks(masks)
    atomic_write(path, lambda file: np.save(file, packed, allow_pickle=False))


def load_reference_masks(
    path: PathLike, shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Loads a reference ``.npy`` mask file (``np.load``, no pickle).

    Raises:
        TypeError: If the file does not hold a 1-D uint8 array.
        ValueError: If its size does not match `shapes` or it is not a valid
            ``.npy`` file (an empty file included).
        OSError: If the file cannot be read.
    """
    try:
        packed = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as error:  # EOFError: an empty file
        reason = str(error) or "the file is empty"
        raise ValueError(
            f"`path` {os.fspath(path)!r} is not a valid .npy file of packed "
            f"masks: {reason}"
        ) from None
    return unpack_reference_masks(packed, shapes)
