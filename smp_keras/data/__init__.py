"""Task presets, data loading, tokenisation and metrics.

These are data utilities: they import NumPy (and, when used, ``datasets``,
scikit-learn and SciPy) but never Keras.

Example:
    >>> from smp_keras.data import get_task, load_task_data
    >>> spec = get_task("rotten_tomatoes")
    >>> spec.words
    ('terrible', 'great')
    >>> load_task_data(spec, split="validation").num_rows
    1008
"""

from smp_keras.data.encoding import encode, encode_span, postprocess_spans
from smp_keras.data.labels import check_answers, label_ids
from smp_keras.data.loading import (
    EMBEDDED_DIR,
    data_columns,
    embedded_files,
    load_task_data,
    prepare_split,
)
from smp_keras.data.metrics import (
    compute_metrics,
    majority_class_baseline,
    normalize_answer,
    squad_exact_match,
    squad_f1,
)
from smp_keras.data.tasks import (
    CUSTOM_TASK,
    TASK_KINDS,
    TaskSpec,
    custom_task,
    get_task,
    list_tasks,
)

__all__ = [
    "CUSTOM_TASK",
    "EMBEDDED_DIR",
    "TASK_KINDS",
    "TaskSpec",
    "check_answers",
    "compute_metrics",
    "custom_task",
    "data_columns",
    "embedded_files",
    "encode",
    "encode_span",
    "get_task",
    "label_ids",
    "list_tasks",
    "load_task_data",
    "majority_class_baseline",
    "normalize_answer",
    "postprocess_spans",
    "prepare_split",
    "squad_exact_match",
    "squad_f1",
]
