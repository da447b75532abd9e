"""`smp_keras` imports Keras lazily; the command and data need none of it."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_data_config_and_report_do_not_import_keras():
    out = _python(
        "import sys, smp_keras, smp_keras.data, smp_keras.cli.main, "
        "smp_keras.pruning.config, smp_keras.pruning.report; "
        "print('keras' in sys.modules)"
    )
    assert out == "False"


def test_every_public_name_resolves():
    out = _python(
        "import smp_keras\n"
        "from smp_keras import MaskedDense, ops, topk_mask\n"
        "names = smp_keras.__all__\n"
        "missing = [n for n in names if not hasattr(smp_keras, n)]\n"
        "assert set(smp_keras.__all__) <= set(dir(smp_keras))\n"
        "assert smp_keras.MaskedDense is MaskedDense\n"
        "assert ops.topk_mask is topk_mask\n"
        "print(missing)"
    )
    assert out == "[]"
