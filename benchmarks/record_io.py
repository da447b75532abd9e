"""Writing the committed benchmark records (the study and learnability
harnesses share it).

A record is written atomically (temporary file, then rename) as sorted,
indented JSON. Paths inside the repository are stored relative to its root,
so that a record says nothing about the machine that made it and reads the
same on every checkout.
"""

from __future__ import annotations

import json
import os
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
