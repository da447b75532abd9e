"""Data-parallel pruning: 2 replicas agree with 1 replica (same global batch).

The replica runs happen in a subprocess (``replica_script.py``) so that
the two simulated CPU devices exist before the backend is imported:
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` on JAX, two logical
CPU devices on TensorFlow. Run under each ``KERAS_BACKEND``: the replica
test needs JAX or TensorFlow, the error tests need torch, the config tests
run everywhere.

Tolerances (the oracle is the one-device run of the same job): masks and
kept counts exactly equal; the SMP-S statistic of every matrix and the
training loss within a relative 1e-5 (an all-reduce sums per-replica
gradients in another order than one device does); task metrics within an
absolute 1e-6 (the same predictions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from smp_keras.pruning.config import PruneConfig

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
SCRIPT = Path(__file__).with_name("replica_script.py")
REPLICA_BACKENDS = ("jax", "tensorflow")
RTOL = 1e-5


# === Config and CLI (no Keras) ===


def test_config_validates_and_round_trips_distribute():
    config = PruneConfig(distribute="data-parallel")
    assert PruneConfig.from_json(config.to_json()) == config
    assert PruneConfig().distribute is None
    assert not PruneConfig().same_run(config)
    with pytest.raises(ValueError, match="`distribute` must be one of"):
        PruneConfig(distribute="model-parallel")
    with pytest.raises(TypeError, match="distribute=2"):
        PruneConfig(distribute=2)


def test_cli_flag_reaches_the_config():
    from smp_keras.cli.main import _prune_config, build_parser

    parser = build_parser()
    args = parser.parse_args(["prune", "--distribute", "data-parallel"])
    assert _prune_config(args).distribute == "data-parallel"
    assert _prune_config(parser.parse_args(["prune"])).distribute is None
    with pytest.raises(SystemExit):
        parser.parse_args(["prune", "--distribute", "model-parallel"])


def test_helpers_check_values():
    from smp_keras.pruning.distribute import (
        check_distribute,
        check_global_batch,
        distribution_scope,
    )

    assert check_distribute(None) is None
    with pytest.raises(TypeError, match="distribute=1"):
        check_distribute(1)
    with pytest.raises(ValueError, match="batch_size=7"):
        check_global_batch(7, _FakeMirrored(2))
    check_global_batch(8, _FakeMirrored(2))
    with distribution_scope(None) as scope:
        assert scope is None
    with pytest.raises(ValueError, match="distribute='x'"):
        with distribution_scope("x"):
            pass


class _FakeMirrored:
    def __init__(self, replicas: int) -> None:
        self.num_replicas_in_sync = replicas


# === torch: a clear error, nothing written ===


def _assert_refused(tiny_model, data_files, folder: Path, match: str):
    """A data-parallel job raises NotImplementedError (matching `match`)
    and writes nothing."""
    from smp_keras.pruning.train import prune

    config = PruneConfig(
        model=tiny_model,
        task="sst2",
        data_files=data_files,
        columns={"text": "review", "label": "stars"},
        steps=2,
        output_dir=str(folder),
        distribute="data-parallel",
    )
    with pytest.raises(NotImplementedError, match=match):
        prune(config, quiet=True)
    assert not folder.exists()


@pytest.mark.skipif(
    BACKEND != "torch", reason="the torch error needs KERAS_BACKEND=torch"
)
def test_torch_refuses_data_parallel(tiny_model, data_files, tmp_path):
    _assert_refused(
        tiny_model, data_files, tmp_path / "run", "'torch' Keras backend"
    )


@pytest.mark.skipif(
    BACKEND != "torch", reason="the torch error needs KERAS_BACKEND=torch"
)
def test_torch_cli_error_is_one_line(tmp_path, capsys):
    from smp_keras.cli.main import main

    code = main(
        ["prune", "--distribute", "data-parallel", "-o", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "NotImplementedError" in err and "'torch'" in err


@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TF_CONFIG matters on TensorFlow only"
)
def test_tensorflow_multi_worker_is_refused(
    tiny_model, data_files, tmp_path, monkeypatch
):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    tf_config = {"cluster": cluster, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    _assert_refused(tiny_model, data_files, tmp_path / "run", "20585")


# === Two replicas against one ===


@pytest.fixture(scope="module")
def replica_report(tiny_model, data_files, tmp_path_factory):
    if BACKEND not in REPLICA_BACKENDS:
        pytest.skip(f"data-parallel runs need jax or tensorflow, not {BACKEND}")
    folder = tmp_path_factory.mktemp("replicas")
    out = folder / "report.json"
    env = {
        **os.environ,
        "KERAS_BACKEND": BACKEND,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "CUDA_VISIBLE_DEVICES": "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    args = [sys.executable, str(SCRIPT), tiny_model]
    args += [data_files["train"], data_files["validation"], str(out)]
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    masks = {
        key: dict(np.load(folder / f"masks_{name}.npz"))
        for key, name in (("one", "None"), ("two", "data-parallel"))
    }
    return report, masks


def test_two_devices_are_used(replica_report):
    report, _ = replica_report
    assert report["two"]["devices"] == 2
    # One replicated copy per device, not one variable per replica.
    assert report["two"]["copies"] == [2]
    assert report["one"]["copies"] == [1]


def test_masks_are_one_per_matrix_and_equal(replica_report):
    report, masks = replica_report
    one, two = report["one"], report["two"]
    assert one["mask_shapes"] == one["kernel_shapes"] == two["mask_shapes"]
    assert one["kept"] == two["kept"]
    assert masks["one"].keys() == masks["two"].keys()
    for name, mask in masks["one"].items():
        np.testing.assert_array_equal(mask, masks["two"][name], err_msg=name)
        assert mask.sum() == one["kept"][name]


def test_smp_s_statistics_and_metrics_agree(replica_report):
    report, _ = replica_report
    one, two = report["one"], report["two"]
    assert one["statistics"].keys() == two["statistics"].keys()
    for name, value in one["statistics"].items():
        assert two["statistics"][name] == pytest.approx(value, rel=RTOL)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=RTOL)
    assert two["metrics"].keys() == one["metrics"].keys()
    for name, value in one["metrics"].items():
        assert two["metrics"][name] == pytest.approx(value, abs=1e-6)


# === Two processes (JAX, one CPU device each) against one ===


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(args: list[str]) -> list[subprocess.Popen]:
    """Starts the two processes of a JAX job running `args` (loopback)."""
    address = f"127.0.0.1:{_free_port()}"
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": address,
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        env.pop("XLA_FLAGS", None)
        procs.append(
            subprocess.Popen(
                [*args, "--process"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return procs


def _finish(procs: list[subprocess.Popen]) -> None:
    """Waits for `procs` (bounded); fails with their output on an error."""
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=300)[0])
    finally:
        for proc in procs:
            proc.kill()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log[-4000:]


def _process_results(folder: Path) -> tuple[list[dict], list[dict]]:
    reports = [
        json.loads((folder / f"report.json.{i}").read_text()) for i in (0, 1)
    ]
    masks = [
        dict(np.load(folder / f"masks_data-parallel.{i}.npz")) for i in (0, 1)
    ]
    return reports, masks


def _job_args(model: str, files: dict, out: Path) -> list[str]:
    args = [sys.executable, str(SCRIPT), model]
    return [*args, files["train"], files["validation"], str(out)]


@pytest.fixture(scope="module")
def process_reports(tiny_model, data_files, tmp_path_factory):
    if BACKEND != "jax":
        pytest.skip("the multi-process job is tested on JAX")
    folder = tmp_path_factory.mktemp("processes")
    _finish(_launch(_job_args(tiny_model, data_files, folder / "report.json")))
    return (folder, *_process_results(folder))


def test_two_processes_give_the_masks_of_one(process_reports, replica_report):
    folder, reports, masks = process_reports
    one, one_masks = replica_report[0]["one"], replica_report[1]["one"]
    for index, report in enumerate(reports):
        assert report["process"] == [index, 2]
        assert report["devices"] == 2
        assert report["kept"] == one["kept"]
        for name, mask in one_masks.items():
            np.testing.assert_array_equal(
                masks[index][name], mask, err_msg=name
            )
        for name, value in one["statistics"].items():
            assert report["statistics"][name] == pytest.approx(value, rel=RTOL)
        np.testing.assert_allclose(report["loss"], one["loss"], rtol=RTOL)
        for name, value in one["metrics"].items():
            assert report["metrics"][name] == pytest.approx(value, abs=1e-6)


def test_only_the_chief_writes_the_run_directory(process_reports):
    folder, reports, _ = process_reports
    run_dir = folder / "run_data-parallel"
    for report in reports:
        assert report["run_dir"] == str(run_dir)
    written = sorted(p.name for p in run_dir.iterdir())
    assert "metrics.json" in written and "masks.smpmask" in written
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]


# === A killed process: the job resumes from the chief's checkpoint ===

FAULT = ["--steps=24", "--checkpoint-every=3", "--resume"]


def _logged_step(run_dir: Path) -> int:
    path = run_dir / "train_log.jsonl"
    if not path.exists():
        return 0
    steps = [0]
    for line in path.read_text().splitlines():
        try:
            steps.append(int(json.loads(line).get("step", 0)))
        except ValueError:  # a line being written
            pass
    return max(steps)


def test_a_killed_process_resumes_to_the_same_masks(
    tiny_model, data_files, tmp_path_factory
):
    if BACKEND != "jax":
        pytest.skip("the multi-process job is tested on JAX")
    folder = tmp_path_factory.mktemp("fault")
    base = folder / "base"
    base.mkdir()
    done = subprocess.run(
        [
            *_job_args(tiny_model, data_files, base / "report.json"),
            "--single",
            *FAULT,
        ],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    expected = dict(np.load(base / "masks_None.npz"))

    args = [*_job_args(tiny_model, data_files, folder / "report.json"), *FAULT]
    run_dir = folder / "run_data-parallel"
    procs = _launch(args)
    deadline = time.monotonic() + 300
    try:
        while not (
            _logged_step(run_dir) >= 9
            and (run_dir / "checkpoint" / "state.npz").exists()
        ):
            assert not (run_dir / "metrics.json").exists(), "not killed"
            assert time.monotonic() < deadline, "no checkpoint in time"
            assert all(p.poll() is None for p in procs), "a process died"
            time.sleep(0.02)
        procs[1].kill()  # the worker dies; the scheduler restarts the job
        time.sleep(0.5)
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    assert not (run_dir / "metrics.json").exists()
    # Every file under its final name is whole (written, then renamed).
    json.loads((run_dir / "config.json").read_text())
    for line in (run_dir / "train_log.jsonl").read_text().splitlines():
        json.loads(line)
    _finish(_launch(args))
    reports, masks = _process_results(folder)
    for index, report in enumerate(reports):
        assert report["process"] == [index, 2]
        assert report["resumed_from"] is not None
        assert report["resumed_from"] >= 3
        for name, mask in expected.items():
            np.testing.assert_array_equal(
                masks[index][name], mask, err_msg=name
            )
    assert reports[0]["resumed_from"] == reports[1]["resumed_from"]
