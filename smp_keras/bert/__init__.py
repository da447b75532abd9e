"""BERT for Static Model Pruning: backbone, loaders, heads, mask exchange.

- :class:`BertBackbone`: BERT in backend-agnostic Keras 3 whose encoder
  matrices are :class:`~smp_keras.layers.MaskedDense` layers, built from
  :class:`BertEmbeddings`, :class:`BertTransformerLayer` and
  :class:`BertMaskedLMHead` (one module each).
- :func:`from_pretrained` / :func:`tokenizer_from_pretrained`: load Hugging
  Face folders (safetensors, PyTorch, TF h5), original Google checkpoints,
  live ``transformers`` models or hub ids; besides BERT, Hugging Face
  RoBERTa, XLM-RoBERTa, DistilBERT and ELECTRA checkpoints
  (:data:`MODEL_TYPES`, ``smp_keras.bert.convert_hf``).
- :func:`build_classifier` / :func:`build_span_classifier`: frozen
  label-word heads on the pre-trained MLM head.
- :func:`export_huggingface`: the pruned model as a plain ``transformers``
  folder; :func:`save_plain_keras`: as a ``.keras`` file of standard Keras
  layers; :func:`export_reference_masks` / :func:`import_reference_masks`:
  the authors' mask format.
- :func:`compact` / :func:`save_compact_keras`: the pruned model without
  the feed-forward neurons and attention heads its masks provably killed
  (exact), as standard Keras layers with per-layer widths, and its
  :class:`CompactReport`.
"""

from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.checkpoint_readers import WeightLoader
from smp_keras.bert.compact import (
    CompactReport,
    LayerCompaction,
    compact,
    compaction_plan,
    save_compact_keras,
)
from smp_keras.bert.convert_hf import MODEL_TYPES
from smp_keras.bert.embeddings import BertEmbeddings
from smp_keras.bert.export import (
    export_huggingface,
    plain_keras_model,
    save_plain_keras,
)
from smp_keras.bert.heads import (
    LabelWordHead,
    MaskedMeanPooling,
    PositionGather,
    build_classifier,
    build_span_classifier,
)
from smp_keras.bert.layer_utils import ACTIVATIONS
from smp_keras.bert.loader import from_pretrained, tokenizer_from_pretrained
from smp_keras.bert.masked_lm_head import BertMaskedLMHead
from smp_keras.bert.prototype import (
    PrototypeHead,
    build_prototype_classifier,
    build_prototype_span_classifier,
    compute_prototypes,
)
from smp_keras.bert.reference_masks import (
    export_reference_masks,
    find_backbone,
    import_reference_masks,
    reference_parameter_names,
)
from smp_keras.bert.transformer_layer import MATRIX_TYPES, BertTransformerLayer

__all__ = [
    "ACTIVATIONS",
    "MATRIX_TYPES",
    "MODEL_TYPES",
    "BertBackbone",
    "BertEmbeddings",
    "BertMaskedLMHead",
    "BertTransformerLayer",
    "CompactReport",
    "LabelWordHead",
    "LayerCompaction",
    "MaskedMeanPooling",
    "PositionGather",
    "PrototypeHead",
    "WeightLoader",
    "build_classifier",
    "build_prototype_classifier",
    "build_prototype_span_classifier",
    "build_span_classifier",
    "compact",
    "compaction_plan",
    "compute_prototypes",
    "export_huggingface",
    "export_reference_masks",
    "find_backbone",
    "from_pretrained",
    "import_reference_masks",
    "plain_keras_model",
    "reference_parameter_names",
    "save_compact_keras",
    "save_plain_keras",
    "tokenizer_from_pretrained",
]
