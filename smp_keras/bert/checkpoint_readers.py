"""Checkpoint readers behind one interface: name -> `np.ndarray`.

Every supported checkpoint format is opened as a :class:`WeightLoader`: a
read-only mapping from weight names to NumPy arrays that also records which
weights a converter read. Converters queue assignments with
:meth:`WeightLoader.port_weight` and apply them all at once with
:meth:`WeightLoader.commit`, which first checks every name and shape, so a
model is never left half-loaded. Nothing here unpickles arbitrary objects:
safetensors and HDF5 are plain tensors, and PyTorch files are read with
``torch.load(weights_only=True)``.

Readers of Hugging Face formats (safetensors, ``pytorch_model.bin``,
``tf_model.h5``) present PyTorch names and layouts without the base model's
prefix (``bert.``, or ``roberta.``, ``distilbert.``, ``electra.`` for the
other families), with old ``gamma``/``beta`` LayerNorm names renamed to
``weight``/``bias``; the Google TF checkpoint reader keeps its own names.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "WeightLoader",
    "hf_tf_name_to_torch",
    "normalize_hf_name",
    "open_google_checkpoint",
    "open_hf_weights",
    "open_state_dict",
]

Getter = Callable[[], np.ndarray]
HookFn = Callable[[np.ndarray, tuple[int, ...]], np.ndarray]


def _list_names(names: Iterable[str], limit: int = 20) -> str:
    """Formats names for an error message, cutting long lists."""
    names = sorted(names)
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


class WeightLoader:
    """A read-only view of a checkpoint: name -> `np.ndarray`.

    Args:
        getters: maps each weight name to a function returning its array.
            Arrays are read lazily, only when a converter asks for them.
        source: a description of the checkpoint for error messages.
        ignored: regular expressions of names that are never reported as
            unexpected (optimizer slots, buffers, heads we do not build).

    Example:
        >>> import numpy as np
        >>> loader = WeightLoader.from_arrays({"w": np.ones((2, 3))}, "demo")
        >>> loader.keys(), loader.get("w").shape
        (['w'], (2, 3))
    """

    def __init__(
        self,
        getters: dict[str, Callable[[], np.ndarray]],
        source: str,
        *,
        ignored: Iterable[str] = (),
    ) -> None:
        self._getters = dict(getters)
        self.source = source
        self._ignored = [re.compile(pattern) for pattern in ignored]
        self._used: set[str] = set()
        self._pending: list[tuple[Any, str, HookFn | None]] = []

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, Any], source: str, **kwargs: Any
    ) -> WeightLoader:
        """Builds a loader over arrays already in memory."""
        getters = {name: _constant(value) for name, value in arrays.items()}
        return cls(getters, source, **kwargs)

    def keys(self) -> list[str]:
        """Returns the sorted names of all weights in the checkpoint."""
        return sorted(self._getters)

    def __contains__(self, name: object) -> bool:
        return name in self._getters

    def get(self, name: str) -> np.ndarray:
        """Returns one weight as a NumPy array and records it as read.

        Raises:
            KeyError: if the checkpoint has no weight `name`.
            ValueError: if the file cannot be read (corrupted).
        """
        if name not in self._getters:
            raise KeyError(f"{self.source} has no weight named {name!r}.")
        try:
            value = np.asarray(self._getters[name]())
        except Exception as error:  # reported with context
            raise ValueError(
                f"Could not read weight {name!r} from {self.source}: the "
                f"file may be corrupted or truncated ({error})."
            ) from error
        self._used.add(name)
        return value

    def skip_prefix(self, prefix: str) -> None:
        """Marks every weight whose name starts with `prefix` as consumed.

        For parts of the checkpoint the caller chose not to build (e.g. the
        MLM head with `with_mlm_head=False`), so they are not reported.
        """
        self._used.update(n for n in self._getters if n.startswith(prefix))

    def unexpected_keys(self) -> list[str]:
        """Returns names neither read nor matched by an ignore pattern."""
        return [
            name
            for name in self.keys()
            if name not in self._used
            and not any(p.fullmatch(name) for p in self._ignored)
        ]

    def port_weight(
        self, variable: Any, key: str, hook_fn: HookFn | None = None
    ) -> None:
        """Queues copying weight `key` into `variable` (see :meth:`commit`).

        Args:
            variable: a Keras variable.
            key: the checkpoint name of the weight.
            hook_fn: optional `hook_fn(array, target_shape) -> array`, e.g.
                a transpose from PyTorch's `(out, in)` layout.
        """
        self._pending.append((variable, key, hook_fn))

    def commit(self, *, strict: bool = False) -> None:
        """Checks every queued weight, then assigns them all.

        Args:
            strict: if True, weights in the checkpoint that nothing read
                raise an error instead of a warning.

        Raises:
            ValueError: listing every missing weight, or naming a weight whose
                shape differs from the model's, or (with `strict`) listing
                unexpected weights. No variable is assigned in that case.
        """
        pending, self._pending = self._pending, []
        missing = [key for _, key, _ in pending if key not in self]
        if missing:
            raise ValueError(
                f"{self.source} is missing {len(missing)} weight(s) the model "
                f"needs: {_list_names(missing)}."
            )
        values = []
        for variable, key, hook_fn in pending:
            stored = self.get(key)
            target = tuple(int(d) for d in variable.shape)
            value = stored if hook_fn is None else hook_fn(stored, target)
            if tuple(value.shape) != target:
                raise ValueError(
                    f"Weight {key!r} in {self.source} has shape "
                    f"{tuple(stored.shape)} (as converted: "
                    f"{tuple(value.shape)}), but the model expects {target} "
                    f"(variable {variable.path!r})."
                )
            values.append(value)
        self._report_unexpected(strict)
        for (variable, _, _), value in zip(pending, values, strict=True):
            variable.assign(value)

    def _report_unexpected(self, strict: bool) -> None:
        unexpected = self.unexpected_keys()
        if not unexpected:
            return
        message = (
            f"{self.source} has {len(unexpected)} weight(s) that the model "
            f"does not use: {_list_names(unexpected)}."
        )
        if strict:
            raise ValueError(message + " Pass strict=False to ignore them.")
        warnings.warn(message, stacklevel=4)


def _constant(value: Any) -> Getter:
    return lambda: value


# === Hugging Face names ===

_LAYER_NORM_OLD = re.compile(r"(LayerNorm|layer_norm)\.(gamma|beta)$")


def normalize_hf_name(name: str, prefix: str = "bert.") -> str:
    """Maps a Hugging Face PyTorch weight name to the loader's spelling.

    Drops a leading `prefix` (the base model's, ``bert.`` for BERT) and
    renames old LayerNorm ``gamma``/``beta`` to ``weight``/``bias``.

    Example:
        >>> normalize_hf_name("bert.embeddings.LayerNorm.gamma")
        'embeddings.LayerNorm.weight'
        >>> normalize_hf_name("roberta.encoder.layer.0.output.dense.bias",
        ...                   prefix="roberta.")
        'encoder.layer.0.output.dense.bias'
    """
    if name.startswith(prefix):
        name = name[len(prefix) :]
    return _LAYER_NORM_OLD.sub(_rename_layer_norm, name)


def _rename_layer_norm(match: re.Match[str]) -> str:
    leaf = "weight" if match.group(2) == "gamma" else "bias"
    return f"{match.group(1)}.{leaf}"


_TF_SECTIONS = ("embeddings", "encoder", "pooler")
_TF_HEADS = ("predictions", "seq_relationship")


def hf_tf_name_to_torch(name: str) -> tuple[str, bool]:
    """Maps a Hugging Face TensorFlow (``tf_model.h5``) name to PyTorch's.

    Returns the PyTorch-style name (without ``bert.``) and whether the array
    must be transposed (TF dense kernels are `(in, out)`).

    Example:
        >>> hf_tf_name_to_torch(
        ...     "bert/tf_bert_model/bert/encoder/layer_._0/attention/self/"
        ...     "query/kernel:0"
        ... )
        ('encoder.layer.0.attention.self.query.weight', True)
    """
    parts = name.removesuffix(":0").strip("/").split("/")
    start = None
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] in _TF_SECTIONS and parts[i - 1] == "bert":
            start, prefix = i, []
            break
        if parts[i] in _TF_HEADS and parts[i - 1].endswith("cls"):
            start, prefix = i, ["cls"]
            break
    if start is None:
        return name, False
    rest = prefix + parts[start:]
    leaf = rest[-1]
    transpose = leaf == "kernel"
    if leaf in ("kernel", "gamma", "embeddings"):
        rest[-1] = "weight"
    elif leaf == "beta":
        rest[-1] = "bias"
    torch_name = ".".join(rest).replace("layer_._", "layer.")
    return torch_name, transpose


_HF_IGNORED = (
    r"embeddings\.(position_ids|token_type_ids)",
    r"cls\.seq_relationship\..*",
    r"cls\.predictions\.decoder\.(weight|bias)",
    r"lm_head\.decoder\.(weight|bias)",  # RoBERTa: tied
    r"vocab_projector\.weight",  # DistilBERT: tied
    r"generator_lm_head\.weight",  # ELECTRA generator: tied
    r"discriminator_predictions\..*",  # ELECTRA discriminator head
)


def open_state_dict(
    state_dict: dict[str, Any], source: str, *, prefix: str = "bert."
) -> WeightLoader:
    """Opens an in-memory PyTorch state dict (or name -> array mapping).

    `prefix` is the base model's name prefix, stripped from the names.
    """
    getters: dict[str, Getter] = {}
    for name, value in state_dict.items():
        _add_unique(
            getters, normalize_hf_name(name, prefix), _tensor_getter(value)
        )
    return WeightLoader(getters, source, ignored=_HF_IGNORED)


def _tensor_getter(value: Any) -> Getter:
    def read() -> np.ndarray:
        if hasattr(value, "detach"):  # a torch tensor
            tensor = value.detach().cpu()
            if tensor.is_floating_point() and tensor.element_size() < 4:
                tensor = tensor.float()
            return tensor.numpy()
        return np.asarray(value)

    return read


def _add_unique(getters: dict[str, Getter], name: str, getter: Getter) -> None:
    if name in getters:
        raise ValueError(
            f"The checkpoint holds weight {name!r} twice (with and without "
            "the base model's prefix, e.g. 'bert.'); it cannot be loaded "
            "unambiguously."
        )
    getters[name] = getter


# === Files ===

HF_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "tf_model.h5",
)


def open_hf_weights(folder: str, *, prefix: str = "bert.") -> WeightLoader:
    """Opens the weights of a Hugging Face model folder.

    Looks for, in order: ``model.safetensors`` (or a sharded
    ``model.safetensors.index.json``), ``pytorch_model.bin`` (or its index),
    ``tf_model.h5`` (BERT only).

    Args:
        folder: the model folder.
        prefix: the base model's name prefix (``"bert."``,
            ``"roberta."``, ...), stripped from the names.

    Raises:
        FileNotFoundError: if the folder holds none of them (the message lists
            the names looked for).
        ValueError: if the file is corrupted, or it is a ``tf_model.h5`` of
            a family other than BERT.
    """
    for filename in HF_WEIGHT_FILES:
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            continue
        if filename == "tf_model.h5" and prefix != "bert.":
            raise ValueError(
                f"{path!r}: TensorFlow weights are read for BERT only. "
                f"Received a checkpoint with prefix={prefix!r}; save it as "
                "model.safetensors (transformers' `save_pretrained`)."
            )
        return _OPENERS[filename](path, prefix)
    raise FileNotFoundError(
        f"No weights found in {folder!r}: looked for "
        f"{', '.join(HF_WEIGHT_FILES)}."
    )


def _open_safetensors(path: str, prefix: str) -> WeightLoader:
    return _open_shards([path], path, prefix)


def _open_safetensors_index(path: str, prefix: str) -> WeightLoader:
    return _open_shards(_shard_paths(path), path, prefix)


def _open_shards(paths: list[str], source: str, prefix: str) -> WeightLoader:
    from safetensors import safe_open

    getters: dict[str, Getter] = {}
    for path in paths:
        try:
            with safe_open(path, framework="np") as handle:
                names = list(handle.keys())
        except Exception as error:  # reported with context
            raise ValueError(
                f"Could not read safetensors file {path!r}: it is corrupted "
                f"or not a safetensors file ({error})."
            ) from error
        for name in names:
            getter = _safetensors_getter(path, name)
            _add_unique(getters, normalize_hf_name(name, prefix), getter)
    return WeightLoader(getters, source, ignored=_HF_IGNORED)


def _safetensors_getter(path: str, name: str) -> Getter:
    def read() -> np.ndarray:
        from safetensors import safe_open

        try:
            with safe_open(path, framework="np") as handle:
                return handle.get_tensor(name)
        except TypeError:  # bfloat16 has no NumPy dtype: go through torch
            with safe_open(path, framework="pt") as handle:
                return handle.get_tensor(name).float().numpy()

    return read


def _shard_paths(index_path: str) -> list[str]:
    try:
        with open(index_path, encoding="utf-8") as handle:
            weight_map = json.load(handle)["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"Could not read the shard index {index_path!r} ({error})."
        ) from error
    if not isinstance(weight_map, dict):
        raise ValueError(
            f"The shard index {index_path!r} must map weight names to shard "
            f"files. Received: weight_map of type {type(weight_map).__name__}"
        )
    folder = os.path.dirname(index_path)
    names = {_shard_name(name, index_path) for name in weight_map.values()}
    return [os.path.join(folder, name) for name in sorted(names)]


def _shard_name(name: Any, index_path: str) -> str:
    """A shard's file name: a plain name in the index's folder, so that an
    index cannot make the loader read files elsewhere."""
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and os.path.basename(name) == name
        and "/" not in name
        and "\\" not in name
        and not os.path.isabs(name)
    )
    if not plain:
        raise ValueError(
            f"The shard index {index_path!r} names a shard outside its "
            f"folder: {name!r}. Shards must be plain file names."
        )
    return name


def _open_torch_bin(path: str, prefix: str) -> WeightLoader:
    return _open_torch_files([path], path, prefix)


def _open_torch_index(path: str, prefix: str) -> WeightLoader:
    return _open_torch_files(_shard_paths(path), path, prefix)


def _open_torch_files(
    paths: list[str], source: str, prefix: str
) -> WeightLoader:
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading {source!r} needs PyTorch (`pip install torch`), or "
            "convert the checkpoint to model.safetensors."
        ) from error
    state: dict[str, Any] = {}
    for path in paths:
        try:
            state.update(
                torch.load(path, map_location="cpu", weights_only=True)
            )
        except Exception as error:  # reported with context
            raise ValueError(
                f"Could not read PyTorch weights {path!r}: it is corrupted or "
                f"not a plain state dict ({error})."
            ) from error
    return open_state_dict(state, source, prefix=prefix)


def _open_tf_h5(path: str, prefix: str = "bert.") -> WeightLoader:
    del prefix  # BERT only (see open_hf_weights)
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            datasets: list[str] = []
            handle.visititems(
                lambda name, obj: (
                    datasets.append(name)
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
    except OSError as error:
        raise ValueError(
            f"Could not read HDF5 file {path!r}: it is corrupted or not an "
            f"HDF5 file ({error})."
        ) from error
    getters: dict[str, Getter] = {}
    for dataset in datasets:
        name, transpose = hf_tf_name_to_torch(dataset)
        _add_unique(getters, name, _h5_getter(path, dataset, transpose))
    return WeightLoader(getters, path, ignored=_HF_IGNORED)


def _h5_getter(path: str, dataset: str, transpose: bool) -> Getter:
    def read() -> np.ndarray:
        import h5py

        with h5py.File(path, "r") as handle:
            value = np.asarray(handle[dataset])
        return value.T if transpose else value

    return read


_OPENERS: dict[str, Callable[[str, str], WeightLoader]] = {
    "model.safetensors": _open_safetensors,
    "model.safetensors.index.json": _open_safetensors_index,
    "pytorch_model.bin": _open_torch_bin,
    "pytorch_model.bin.index.json": _open_torch_index,
    "tf_model.h5": _open_tf_h5,
}


# === Google TF checkpoints ===

_GOOGLE_IGNORED = (
    r".*/adam_[mv]",
    r"global_step",
    r"cls/seq_relationship/.*",
    r".*(good_steps|bad_steps|loss_scale).*",
)


def open_google_checkpoint(prefix: str) -> WeightLoader:
    """Opens an original Google BERT TF checkpoint (``bert_model.ckpt``).

    Args:
        prefix: the checkpoint prefix, e.g. ``folder/bert_model.ckpt``.

    Raises:
        ImportError: if TensorFlow is not installed.
        ValueError: if the checkpoint cannot be read.
    """
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            "Reading an original Google BERT TF checkpoint needs TensorFlow "
            "(`pip install tensorflow`). Alternatively convert it to a "
            "Hugging Face folder and pass that."
        ) from error
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = list(reader.get_variable_to_shape_map())
    except Exception as error:  # reported with context
        raise ValueError(
            f"Could not read TF checkpoint {prefix!r}: it is corrupted or "
            f"incomplete ({error})."
        ) from error

    def getter(name: str) -> Getter:
        return lambda: reader.get_tensor(name)

    getters = {name: getter(name) for name in names}
    return WeightLoader(getters, prefix, ignored=_GOOGLE_IGNORED)
