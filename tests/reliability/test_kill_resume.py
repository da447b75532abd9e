"""`smp prune` killed with SIGKILL at random points resumes to the same end.

A run of the `smp` command on a tiny random BERT is killed several times
(SIGKILL: no handler, no clean-up; seeded random points: while loading,
between and during checkpoints, while writing the results) and started
again with the same options until it finishes. Oracles:

* an uninterrupted run of the same command (another run directory): the
  final masks are equal bit for bit, the metrics, learning curve and
  baselines equal (to float tolerance for the metrics);
* after every kill, every file under its final name in the run directory is
  complete and valid (``config.json`` parses as the run's config, the log
  lines parse, the checkpoint and the mask artifact load with their checks,
  the plot ends with its PNG trailer); only temporary names (``.NAME.*.tmp``
  of ``atomic_write``) may hold partial data, and the next start removes
  them.

Run per backend (``KERAS_BACKEND``); each `smp` process imports Keras, so the
test takes about as long as five short runs (on JAX, a persistent compilation
cache shared by the processes saves most of the compile time).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_bert import save_tiny_bert, single_rows, write_csv

import smpcore
from smp_keras.pruning import checkpoint
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.config import PruneConfig

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
STEPS = 36
CHECKPOINT_EVERY = 3
EVAL_EVERY = 12
#: Seed of the kill points (set SMP_KILL_SEED to explore others).
SEED = int(os.environ.get("SMP_KILL_SEED", "20240613"))
#: A process that does not finish in this time is a failure (not a hang).
PROCESS_TIMEOUT = 300.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TRAILER = b"IEND\xaeB`\x82"


# === Fixtures: model, data, the command ===


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dict[str, str]:
    """The tiny model, data files and a JAX compilation cache folder."""
    folder = tmp_path_factory.mktemp("kill_resume")
    rng = random.Random(0)
    files = {
        split: write_csv(folder / f"{split}.csv", single_rows(rng, n))
        for split, n in (("train", 48), ("validation", 24))
    }
    return {
        "model": save_tiny_bert(folder / "model"),
        "cache": str(folder / "jax_cache"),
        **files,
    }


def _argv(job: dict[str, str], output_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "smp_keras.cli",
        "--quiet",
        "prune",
        "--model",
        job["model"],
        "--task",
        "sst2",
        "--data-files",
        f"train={job['train']}",
        f"validation={job['validation']}",
        "--columns",
        "text=review",
        "label=stars",
        "--steps",
        str(STEPS),
        "--batch-size",
        "8",
        "--max-length",
        "24",
        "--density",
        "0.5",
        "--eval-every",
        str(EVAL_EVERY),
        "--checkpoint-every",
        str(CHECKPOINT_EVERY),
        "--output-dir",
        str(output_dir),
    ]


def _env(job: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=BACKEND, PYTHONUNBUFFERED="1")
    # JAX only (other backends ignore these): compiled programs are cached
    # on disk and shared by the processes; a cached program is the same
    # executable, so results are unchanged.
    env["JAX_COMPILATION_CACHE_DIR"] = job["cache"]
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


class _Process:
    """One `smp prune` process, its output in a file."""

    def __init__(self, job: dict[str, str], output_dir: Path, log: Path):
        self.log = log
        self._handle = open(log, "wb")
        self.popen = subprocess.Popen(
            _argv(job, output_dir),
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            env=_env(job),
        )
        self.started = time.monotonic()

    def running(self) -> bool:
        if time.monotonic() - self.started > PROCESS_TIMEOUT:
            self.popen.kill()
            self.wait()
            pytest.fail(f"`smp prune` ran past {PROCESS_TIMEOUT} s: {self}")
        return self.popen.poll() is None

    def kill(self) -> bool:
        """SIGKILL; returns whether the process was still running."""
        alive = self.popen.poll() is None
        if alive:
            os.kill(self.popen.pid, signal.SIGKILL)
        code = self.wait()
        return alive and code == -signal.SIGKILL

    def wait(self) -> int:
        code = self.popen.wait(timeout=PROCESS_TIMEOUT)
        self._handle.close()
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def __str__(self) -> str:
        return self.output()[-3000:]


def _run_to_end(job: dict[str, str], output_dir: Path, log: Path) -> str:
    process = _Process(job, output_dir, log)
    code = process.wait()
    assert code == 0, f"`smp prune` failed ({code}):\n{process}"
    return process.output()


# === Killing at random points ===


def _log_state(folder: Path) -> tuple[tuple[int, int] | None, int]:
    """`(identity of the log file, last step logged)`."""
    path = folder / rd.LOG
    try:
        stat = path.stat()
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None, -1
    step = json.loads(lines[-1])["step"] if lines else -1
    return (stat.st_ino, stat.st_mtime_ns), step


def _wait_for(process: _Process, ready) -> bool:
    """Polls `ready()` while the process runs; False if it ended first."""
    while process.running():
        if ready():
            return True
        time.sleep(0.02)
    return False


def _kill_plan(rng: random.Random) -> list[tuple[str, int, float]]:
    """`(when, step, delay)`: one kill while loading (after `config.json`
    appears), three after the log reaches random steps (the last one may
    be the final step: a kill while the results are written)."""
    steps = sorted(rng.sample(range(CHECKPOINT_EVERY, STEPS + 1, 3), 3))
    plan = [("config", 0, rng.uniform(0.0, 2.0))]
    plan += [("step", s, rng.uniform(0.0, 0.6)) for s in steps]
    return plan


def _kill_at(process: _Process, folder: Path, when: str, step: int) -> bool:
    """Waits for the kill point; False if the process ended before it."""
    if when == "config":
        return _wait_for(process, (folder / rd.CONFIG).is_file)
    before, _ = _log_state(folder)

    def ready() -> bool:
        identity, logged = _log_state(folder)
        return identity != before and logged >= step

    return _wait_for(process, ready)


# === Checks of a run directory ===


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _check_file(path: Path, folder: Path, config: PruneConfig) -> None:
    relative = path.relative_to(folder).as_posix()
    data = path.read_bytes()
    if relative == rd.CONFIG:
        assert rd.read_run_config(str(path)).same_run(config), relative
    elif relative == rd.LOG:
        steps = [json.loads(line)["step"] for line in data.splitlines()]
        assert steps == sorted(steps), relative
    elif relative == rd.CHECKPOINT.replace(os.sep, "/"):
        arrays, meta = checkpoint.read_file(str(path))
        assert meta["step"] % CHECKPOINT_EVERY == 0, meta["step"]
        assert arrays, relative
    elif relative == rd.MASKS:
        assert smpcore.load_masks_file(path), relative
    elif relative == rd.PLOT:
        assert data.startswith(PNG_SIGNATURE), relative
        assert data.endswith(PNG_TRAILER), relative
    elif relative == rd.METRICS:
        assert "metrics" in json.loads(data), relative
    else:
        pytest.fail(f"unexpected file in the run directory: {relative}")


def _check_complete(folder: Path, config: PruneConfig) -> int:
    """Checks every file under its final name; returns how many."""
    checked = 0
    for root, _, names in os.walk(folder):
        for name in names:
            if not _is_temporary(name):
                _check_file(Path(root, name), folder, config)
                checked += 1
    return checked


def _temporaries(folder: Path) -> list[str]:
    return [
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if _is_temporary(name)
    ]


def _stored_config(folder: Path) -> PruneConfig:
    return PruneConfig.from_json((folder / rd.CONFIG).read_text())


# === The test ===


def _landing(folder: Path) -> str:
    """Where a kill landed: the last step logged and checkpointed."""
    _, logged = _log_state(folder)
    state_file = folder / rd.CHECKPOINT
    saved = (
        checkpoint.read_file(str(state_file))[1]["step"]
        if state_file.is_file()
        else None
    )
    return (
        f"config {(folder / rd.CONFIG).is_file()}, log step {logged}, "
        f"checkpoint step {saved}, temporaries {len(_temporaries(folder))}, "
        f"finished {rd.is_finished(str(folder))}"
    )


def _killed_and_resumed(
    job, folder: Path, config: PruneConfig, logs: Path, counter
) -> tuple[list[str], list[str]]:
    """Runs the plan of kills, then resumes until the run finishes.

    Returns:
        `(where each kill landed, outputs of the processes)`.
    """
    outputs, landings = [], []
    plan = _kill_plan(random.Random(SEED))
    for index, (when, step, delay) in enumerate(plan):
        if rd.is_finished(str(folder)):
            break
        if index:
            counter.add("resumes")
        process = _Process(job, folder, logs / f"killed_{index}.txt")
        if _kill_at(process, folder, when, step):
            time.sleep(delay)
        if not process.kill():
            assert process.popen.returncode == 0, str(process)
            break
        counter.add("kills")
        outputs.append(process.output())
        landings.append(f"kill at {when} {step} + {delay:.2f} s: ")
        landings[-1] += _landing(folder)
        counter.add("files_checked", _check_complete(folder, config))
    for attempt in range(3):
        if rd.is_finished(str(folder)):
            break
        counter.add("resumes")
        log = logs / f"resumed_{attempt}.txt"
        outputs.append(_run_to_end(job, folder, log))
    return landings, outputs


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return smpcore.load_masks_file(folder / rd.MASKS)


def test_killed_runs_resume_to_the_uninterrupted_result(
    job, tmp_path, reliability_counter
):
    logs = tmp_path / "logs"
    logs.mkdir()
    whole = tmp_path / "whole"
    _run_to_end(job, whole, logs / "whole.txt")
    config = _stored_config(whole)
    parts = tmp_path / "parts"
    landings, outputs = _killed_and_resumed(
        job, parts, config, logs, reliability_counter
    )
    print("\n".join(landings))  # shown with -rP: where the kills landed
    assert len(landings) >= 3, landings

    assert rd.is_finished(str(parts))
    assert _stored_config(parts).same_run(config)
    _check_complete(parts, config)
    assert not _temporaries(parts), "stale temporary files were not removed"
    # At least one start resumed from a checkpoint, not from scratch.
    assert any("from step" in text for text in outputs), outputs

    a, b = _masks(whole), _masks(parts)
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    expected = json.loads((whole / rd.METRICS).read_text())
    got = json.loads((parts / rd.METRICS).read_text())
    assert got["kept"] == expected["kept"]
    assert got["metrics"] == pytest.approx(expected["metrics"], abs=1e-6)
    assert got["zero_shot"] == pytest.approx(expected["zero_shot"])
    assert [p["step"] for p in got["curve"]] == [
        p["step"] for p in expected["curve"]
    ]
    for p, q in zip(got["curve"], expected["curve"], strict=True):
        assert p["kept"] == q["kept"]
        assert p["metrics"] == pytest.approx(q["metrics"], abs=1e-6)
    # The training log tells the same story: same steps, same losses.
    train = [_train_records(folder) for folder in (whole, parts)]
    assert [r["step"] for r in train[0]] == [r["step"] for r in train[1]]
    for p, q in zip(*train, strict=True):
        assert p["loss"] == pytest.approx(q["loss"], rel=1e-5), p["step"]


def _train_records(folder: Path) -> list[dict]:
    lines = (folder / rd.LOG).read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "train"]


# === What a kill leaves behind: temporary files ===


def test_a_folder_holding_only_temporaries_starts_afresh(
    tmp_path, reliability_counter
):
    # A run killed while writing its first config.json leaves only the
    # temporary: the next start is a fresh run, not "holds no run".
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".config.json.k1ll3d00.tmp").write_bytes(b'{"conf')
    config = PruneConfig(output_dir=str(folder), steps=4)
    assert rd.check_run_dir(config) == (str(folder), False)
    rd.start_run_dir(str(folder), config, False, {})
    assert sorted(os.listdir(folder)) == [rd.CONFIG]
    assert rd.read_run_config(str(folder / rd.CONFIG)) == config
    reliability_counter.add("cases")


def test_a_resume_removes_stale_temporaries_and_nothing_else(
    tmp_path, reliability_counter
):
    folder = tmp_path / "run"
    config = PruneConfig(output_dir=str(folder), steps=4)
    rd.start_run_dir(str(folder), config, False, {})
    (folder / "checkpoint").mkdir()
    (folder / rd.MODEL).mkdir()
    stale = [
        ".masks.smpmask.a1b2c3d4.tmp",
        ".train_log.jsonl.x_y_z_12.tmp",
        ".sparsity.png.00000000.tmp",
        "checkpoint/.state.npz.abcdefgh.tmp",
        "model/.model.safetensors.abcdefgh.tmp",
    ]
    kept = [
        "notes.tmp",
        ".notes.txt.abcdefgh.tmp",
        ".hidden",
        "checkpoint/state.npz",
        "model/config.json",
    ]
    for name in stale + kept:
        (folder / name).write_bytes(b"partial")
    (folder / "model" / ".tokenizer.abcdefgh.tmp").mkdir()
    (folder / "model" / ".tokenizer.abcdefgh.tmp" / "vocab.txt").write_text("")
    assert rd.check_run_dir(config) == (str(folder), True)
    rd.start_run_dir(str(folder), config, True, {})
    left = {
        os.path.relpath(os.path.join(root, name), folder)
        for root, dirs, names in os.walk(folder)
        for name in names + dirs
    }
    assert left == {rd.CONFIG, "checkpoint", "model", *kept}
    reliability_counter.add("cases", len(stale) + 1 + len(kept))
