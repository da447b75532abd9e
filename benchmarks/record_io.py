"""Writing the committed benchmark records (the benchmarks, the study and
learnability harnesses share it), and the environment each one records.

A record is written atomically (temporary file, then rename) as sorted,
indented JSON. Paths inside the repository are stored relative to its root,
so that a record says nothing about the machine that made it and reads the
same on every checkout.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

import smpcore

#: The repository's root folder.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def portable(value: Any, root: str = ROOT) -> Any:
    """`value` with every string path under `root` made relative to it."""
    if isinstance(value, dict):
        return {k: portable(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v, root) for v in value]
    if isinstance(value, str) and (
        value == root or value.startswith(root.rstrip(os.sep) + os.sep)
    ):
        return os.path.relpath(value, root)
    return value


def write_record(path: str, data: Any) -> None:
    """Writes `data` to `path` as a portable JSON record, atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = json.dumps(portable(data), indent=1, sort_keys=True) + "\n"
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | Path, data: dict) -> None:
    """Writes a benchmark result as indented JSON to `path`, atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2) + "\n"
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))


#: The package whose version a benchmark on each backend records.
_BACKEND_PACKAGE = {
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch": "torch",
    "numpy": "scipy",
}


def environment(backend: str) -> dict:
    """Versions, machine, threads and load of a benchmark run on `backend`
    (`"numpy"`: the SciPy reference)."""
    import keras
    import numpy as np

    package = _BACKEND_PACKAGE[backend]
    versions = {"keras": keras.__version__, "numpy": np.__version__}
    versions[package] = __import__(package).__version__
    threads = None
    if backend == "torch":
        import torch

        threads = torch.get_num_threads()
    return {
        "backend": backend,
        "versions": versions,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "threads": threads,
        "date": datetime.datetime.now(datetime.UTC).isoformat(),
    }
