"""smpcore: Static Model Pruning (SMP) as pure NumPy functions.

SMP (Jiang, Wang, Zhuang, Xie, Xia, "Pruning Pre-trained Language Models
Without Fine-Tuning", ACL 2023, arXiv:2210.06210) adapts a frozen
pre-trained model to a task only by learning which weights to keep. This
package holds the method's framework-free parts: masks from scores, budget
allocation between matrices, schedules, the score regulariser, label-word
heads, mask artifacts and reports; and, beside SMP, N:M structured masks
(``nm_mask``) and Wanda scores and masks (``wanda_mask``). It imports NumPy
and the standard library only; the Keras frontend lives in ``smp_keras``.

Vocabulary: *density* is the fraction of weights kept; ``sparsity = 1 -
density``. A mask of density ``v`` over ``n`` weights keeps exactly
``topk_count(n, v) = round(v * n)`` of them, ties broken by the lowest flat
index.
"""

from smpcore.allocation import (
    global_densities,
    smp_s_densities,
    uniform_densities,
)
from smpcore.artifacts import (
    FORMAT_VERSION,
    MAGIC,
    MAX_ENTRIES,
    atomic_write,
    load_masks_file,
    load_reference_masks,
    pack_masks,
    pack_reference_masks,
    save_masks_file,
    save_reference_masks,
    unpack_masks,
    unpack_reference_masks,
)
from smpcore.heads import embedding_label_head, label_word_ids, mlm_label_head
from smpcore.masks import magnitude_mask, threshold_mask, topk_count, topk_mask
from smpcore.regularizers import (
    mean_sigmoid_scores,
    sigmoid,
    sigmoid_l1,
    sigmoid_l1_grad,
    sigmoid_l1_total,
)
from smpcore.report import format_sparsity_report, sparsity_report
from smpcore.schedules import (
    constant_schedule,
    cubic_density_schedule,
    regularization_schedule,
    threshold_schedule,
)
from smpcore.structured import (
    check_nm,
    check_structure,
    is_nm_mask,
    nm_mask,
    nm_structure,
)
from smpcore.wanda import activation_norms, wanda_mask, wanda_scores

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_ENTRIES",
    "activation_norms",
    "atomic_write",
    "check_nm",
    "check_structure",
    "constant_schedule",
    "cubic_density_schedule",
    "embedding_label_head",
    "format_sparsity_report",
    "global_densities",
    "is_nm_mask",
    "label_word_ids",
    "load_masks_file",
    "load_reference_masks",
    "magnitude_mask",
    "mean_sigmoid_scores",
    "mlm_label_head",
    "nm_mask",
    "nm_structure",
    "pack_masks",
    "pack_reference_masks",
    "regularization_schedule",
    "save_masks_file",
    "save_reference_masks",
    "sigmoid",
    "sigmoid_l1",
    "sigmoid_l1_grad",
    "sigmoid_l1_total",
    "smp_s_densities",
    "sparsity_report",
    "threshold_mask",
    "threshold_schedule",
    "topk_count",
    "topk_mask",
    "uniform_densities",
    "unpack_masks",
    "unpack_reference_masks",
    "wanda_mask",
    "wanda_scores",
]

__version__ = "0.1.0"
