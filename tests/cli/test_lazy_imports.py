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


def test_the_api_imports_keras_only_for_the_job():
    out = _python(
        "import sys\n"
        "from smp_keras.api import DEFAULTS, METHODS, PruneConfig, report\n"
        "before = 'keras' in sys.modules\n"
        "import smp_keras.api as api\n"
        "missing = [n for n in api.__all__ if not hasattr(api, n)]\n"
        "assert set(api.__all__) <= set(dir(api))\n"
        "from smp_keras.pruning.train import prune\n"
        "assert api.prune is prune\n"
        "print(before, 'keras' in sys.modules, missing)"
    )
    assert out == "False True []"
