"""Model-wide transforms: mask every `Dense`/`EinsumDense` of any Keras model.

:func:`mask_model` turns a user's own Keras model, or a keras-hub backbone,
into one SMP can train: it returns a copy whose selected `Dense` and
`EinsumDense` layers are :class:`~smp_keras.MaskedDense` and
:class:`~smp_keras.MaskedEinsumDense` layers holding the same (frozen)
weights. :func:`smp_keras.bake` is its inverse.

Two kinds of places hold layers, and each is rewritten the way Keras
allows:

- the graph of a `Sequential` or Functional model (with the default
  `get_config`): rebuilt by `keras.models.clone_model`, its public API;
- the attributes of a custom layer (keras-hub's `TransformerEncoder`,
  Keras's `MultiHeadAttention`, a user's block): the layer is swapped in
  place in every parent that holds it, through the parent's layer tracker
  (as Keras's own `enable_lora` edits a built layer), keeping the order of
  the parent's layers, so weights, names and `.keras` files keep their
  order.

A model class with its own `get_config` (keras-hub's backbones and tasks)
is copied from its config; the layers of its own graph (a backbone's
pooler, a task's head) cannot be swapped without rebuilding it as a plain
Functional model (losing its class), so they are left out by default and
refused when selected.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import keras

from smp_keras.layers.masked_dense import MaskedDense
from smp_keras.layers.masked_einsum_dense import MaskedEinsumDense

__all__ = ["bake", "mask_model", "maskable_layers"]

#: Layer classes `mask_model` replaces, and their masked counterparts.
_MASKABLE = (keras.layers.Dense, keras.layers.EinsumDense)


def _is_functional(model: Any) -> bool:
    return isinstance(model, keras.Model) and hasattr(model, "_operations")


def _is_graph(layer: Any) -> bool:
    """A model whose graph `clone_model` rebuilds keeping its class: a
    Sequential model, or a Functional one whose constructor takes
    `(inputs, outputs)` (Keras's own test, `functional_like_constructor`)."""
    if isinstance(layer, keras.Sequential):
        return True
    if not _is_functional(layer):
        return False
    spec = inspect.getfullargspec(type(layer).__init__)
    return spec.args[1:] == ["inputs", "outputs", "name"] or (
        spec.varargs is not None and spec.varkw is not None
    )


def _children(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    return list(getattr(layer, "_layers", []))


def _walk(
    model: keras.layers.Layer,
) -> list[tuple[str, keras.layers.Layer, list[keras.layers.Layer]]]:
    """`(stable name, layer, parents)` of every layer below `model`, depth
    first, each once (under its first name), with every parent holding it.

    Names are those of :func:`smp_keras.named_masked_layers`.
    """
    found: dict[int, tuple[str, keras.layers.Layer, list[Any]]] = {}

    def visit(layer: keras.layers.Layer, prefix: str) -> None:
        for child in _children(layer):
            if id(child) in found:
                parents = found[id(child)][2]
                if not any(p is layer for p in parents):
                    parents.append(layer)
                continue
            found[id(child)] = (prefix + child.name, child, [layer])
            visit(child, prefix + child.name + "/")

    visit(model, "")
    return list(found.values())


def _selector(layers: Any) -> Callable[[str, keras.layers.Layer], bool]:
    if layers is None:
        return lambda name, layer: True
    if isinstance(layers, str):
        try:
            pattern = re.compile(layers)
        except re.error as error:
            raise ValueError(
                f"`layers` is not a valid regular expression ({error}). "
                f"Received: layers={layers!r}"
            ) from None
        return lambda name, layer: pattern.search(name) is not None
    if callable(layers):
        return lambda name, layer: bool(layers(layer))
    raise TypeError(
        "`layers` must be None, a regular expression (str) searched in the "
        "layers' names, or a callable taking a layer and returning a bool. "
        f"Received: layers={layers!r} of type {type(layers).__name__}"
    )


def maskable_layers(
    model: keras.layers.Layer, layers: Any = None
) -> dict[str, keras.layers.Layer]:
    """The `Dense`/`EinsumDense` layers :func:`mask_model` would mask.

    Args:
        model: A built Keras model or layer.
        layers: The selection of :func:`mask_model`.

    Returns:
        `{stable name: layer}`, in the order of
        :func:`smp_keras.named_masked_layers` (the names the masked copy's
        layers get).

    Raises:
        TypeError: If `model` is not a Keras layer, or `layers` has the
            wrong type.
        ValueError: If `layers` selects a layer `mask_model` cannot swap
            (see :func:`mask_model`).
    """
    return {name: layer for name, layer, _ in _plan(model, layers)}


def _is_maskable(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, _MASKABLE) and not isinstance(layer, MaskedDense)


def _plan(
    model: keras.layers.Layer,
    layers: Any,
    kind: Callable[[keras.layers.Layer], bool] = _is_maskable,
    skip_frozen: bool = True,
) -> list[tuple[str, keras.layers.Layer, list[keras.layers.Layer]]]:
    """`(name, layer, parents)` of the layers of `kind` that `layers`
    selects; with `skip_frozen`, an unset `layers` leaves out the graph
    layers of a model class with its own config (refused otherwise)."""
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            "`model` must be a keras.Model or keras.layers.Layer. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    select = _selector(layers)
    chosen = []
    for name, layer, parents in _walk(model):
        if not kind(layer):
            continue
        # In the graph of a model class with its own config: not swappable.
        frozen_graph = [
            p for p in parents if _is_functional(p) and not _is_graph(p)
        ]
        if frozen_graph and layers is None and skip_frozen:
            continue
        if not select(name, layer):
            continue
        if frozen_graph:
            raise ValueError(
                f"Layer {name!r} is a node of the graph of "
                f"{type(frozen_graph[0]).__name__} '{frozen_graph[0].name}', "
                "a model class with its own get_config: it cannot be swapped "
                "without rebuilding the model as a plain Functional model. "
                "Leave it out of `layers` (mask_model leaves it out by "
                "default)."
            )
        graph = [p for p in parents if _is_graph(p)]
        if graph and len(parents) > len(graph):
            raise ValueError(
                f"Layer {name!r} is shared between a model's graph and a "
                "custom layer; mask_model cannot keep that sharing in a "
                "copy. Leave it out of `layers`."
            )
        if not layer.built:
            raise RuntimeError(
                f"Layer {name!r} is not built: call the model on an input "
                "(or build it) first."
            )
        chosen.append((name, layer, parents))
    return chosen


def _masked(layer: keras.layers.Layer, kwargs: dict[str, Any]) -> MaskedDense:
    if isinstance(layer, keras.layers.EinsumDense):
        return MaskedEinsumDense.from_einsum_dense(layer, **kwargs)
    return MaskedDense.from_dense(layer, dtype=layer.dtype_policy, **kwargs)


def mask_model(
    model: keras.Model, layers: Any = None, freeze: bool = True, **kwargs: Any
) -> keras.Model:
    """Returns a copy of `model` whose `Dense`/`EinsumDense` layers are masked.

    Every selected `keras.layers.Dense` becomes a :class:`MaskedDense` and
    every `keras.layers.EinsumDense` a :class:`MaskedEinsumDense`, with the
    same weights (frozen unless `kernel_trainable=True`), name, activation
    and dtype policy; every other layer is copied with its weights, and
    frozen (`freeze=True`): SMP trains the scores only. At
    density 1 (the default) the copy computes the same outputs; then train
    it with :class:`smp_keras.SparsityScheduler` as any model of masked
    layers. `model` itself is not changed.

    Works on `Sequential` and Functional models (nested ones included), on
    subclassed models and layers that can be rebuilt from their config, and
    on keras-hub backbones and tasks, whose attention and feed-forward
    layers sit inside custom layers. A layer shared by several custom
    layers is masked once and stays shared.

    Args:
        model: A built Keras model (or layer).
        layers: Which layers to mask: None (every `Dense` and `EinsumDense`,
            except the graph layers of a model class with its own
            `get_config`, such as a keras-hub backbone's pooler or a task's
            classification head, which cannot be swapped), a regular
            expression searched in the layers' stable names (those of
            :func:`smp_keras.named_masked_layers`, e.g.
            ``"transformer_layer_\\d+/"``), or a callable taking a layer and
            returning whether to mask it.
        freeze: Whether every layer of the copy that is not masked (and
            holds no layer) is made non-trainable (`layer.trainable =
            False`; a frozen `BatchNormalization` runs in inference mode).
            With False they keep the original's `trainable`.
        **kwargs: Arguments of every masked layer: `density`,
            `pruning_method`, `structure`, `score_initializer`,
            `kernel_trainable`, `matrix_type`, ... (see
            :class:`MaskedDense`).

    Returns:
        The masked copy (a model of the same class, except a model that had
        no layer to mask is still copied).

    Raises:
        TypeError: If `model` is not a Keras layer or `layers` has the
            wrong type.
        ValueError: If no layer is selected, a selected layer is a graph
            node of a model class with its own `get_config`, or is shared
            between a graph and a custom layer; if a custom layer holds a
            selected layer somewhere other than an attribute, list or dict.
        RuntimeError: If a selected layer is not built.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential(
    ...     [keras.Input((8,)), keras.layers.Dense(4, name="hidden"),
    ...      keras.layers.Dense(2, name="head")]
    ... )
    >>> masked = mask_model(model, layers="hidden", density=0.5)
    >>> [type(layer).__name__ for layer in masked.layers]
    ['MaskedDense', 'Dense']
    >>> int(masked.layers[0].mask().sum())
    16
    """
    chosen = _plan(model, layers)
    if not chosen:
        raise ValueError(
            f"`layers` selects no Dense or EinsumDense layer of model "
            f"'{model.name}' that mask_model can swap. Received: "
            f"layers={layers!r}"
        )
    if not isinstance(freeze, bool):
        raise TypeError(f"`freeze` must be a bool. Received: freeze={freeze!r}")
    copy = _rewrite(model, chosen, lambda layer: _masked(layer, kwargs))
    if freeze:
        for _, layer, _ in _walk(copy):
            if not _children(layer) and not isinstance(layer, MaskedDense):
                layer.trainable = False
    return copy


def bake(model: keras.Model) -> keras.Model:
    """Returns a copy of `model` with every masked layer baked.

    Each :class:`MaskedDense` becomes :meth:`MaskedDense.bake` (a `Dense`
    with kernel `kernel * mask`, same name and bias) and each
    :class:`MaskedEinsumDense` an `EinsumDense`; every other layer is a
    copy with the same weights. Masked layers are found wherever
    :func:`mask_model` puts them: in the graph of Sequential and Functional
    models (nested ones included) and inside custom layers (keras-hub's
    encoder blocks). The result holds no `smp_keras` layer and computes the
    same outputs: :func:`mask_model`'s inverse.

    Args:
        model: A built Keras model.

    Returns:
        A new Keras model.

    Raises:
        TypeError: If `model` is not a keras.Model.
        ValueError: If a masked layer cannot be swapped (a graph node of a
            model class with its own `get_config`, a layer shared between
            a graph and a custom layer, or held other than as an
            attribute, list or dict) or the model holds no masked layer.
        RuntimeError: If a masked layer is not built.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model (Sequential, Functional, or a "
            "class that its config rebuilds). Received: model of type "
            f"{type(model).__name__}"
        )
    chosen = _plan(
        model, None, lambda layer: isinstance(layer, MaskedDense), False
    )
    if not chosen:
        raise ValueError(
            f"Model '{model.name}' holds no MaskedDense or MaskedEinsumDense "
            "layer to bake."
        )
    return _rewrite(model, chosen, lambda layer: layer.bake())


def _rewrite(
    model: keras.layers.Layer,
    chosen: list[tuple[str, keras.layers.Layer, list[keras.layers.Layer]]],
    convert: Callable[[keras.layers.Layer], keras.layers.Layer],
) -> keras.layers.Layer:
    """A copy of `model` with each chosen layer replaced by `convert(layer)`
    of the original's, every other layer holding the original's weights."""
    names = {name for name, _, _ in chosen}
    if _is_graph(model):
        by_id = {id(layer): name for name, layer, _ in _walk(model)}
        pairs: list[tuple[str, Any, Any]] = []

        def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
            name = by_id.get(id(layer), layer.name)
            if name in names:
                return convert(layer)
            new = layer.__class__.from_config(layer.get_config())
            pairs.append((name, layer, new))
            return new

        copy = keras.models.clone_model(
            model, clone_function=clone, recursive=True
        )
        for name, old, new in pairs:
            if not isinstance(old, keras.Model | keras.Sequential):
                _transfer(new, old, name + "/", names, convert)
    else:
        copy = _from_config(model)
        _transfer(copy, model, "", names, convert)
    if keras.backend.backend() == "torch":
        _retrack_torch(copy)
    return copy


def _from_config(model: keras.layers.Layer) -> keras.layers.Layer:
    """A new model of `model`'s class, from its config (fresh weights)."""
    config = keras.saving.serialize_keras_object(model)
    try:
        copy = keras.saving.deserialize_keras_object(
            config, custom_objects={type(model).__name__: type(model)}
        )
        if not copy.built:
            copy.build_from_config(model.get_build_config())
    except Exception as error:  # noqa: BLE001 - any failure of user code
        raise ValueError(
            f"mask_model copies a model of class {type(model).__name__} from "
            f"its config, which failed ({type(error).__name__}: {error}). "
            "Give the class a working get_config/from_config."
        ) from error
    return copy


def _own_weights(layer: keras.layers.Layer) -> list[Any]:
    """The variables `layer` holds itself (not through its sublayers)."""
    inner = {id(v) for child in _children(layer) for v in child.weights}
    return [v for v in layer.weights if id(v) not in inner]


def _transfer(
    new: keras.layers.Layer,
    old: keras.layers.Layer,
    prefix: str,
    names: set[str],
    convert: Callable[[keras.layers.Layer], keras.layers.Layer],
) -> None:
    """Makes `new` (a copy of `old` from its config) hold `old`'s weights,
    with the chosen layers below it swapped for `convert` of `old`'s.

    Layers are matched by their place in the two trees (auto-generated
    names such as `softmax_3` differ between the two), so `new` may hold a
    plain layer where `old` holds a masked one (a config does not record
    masks).
    """
    olds = _walk(old)
    news = _walk(new)
    if len(olds) != len(news):
        raise ValueError(
            f"The copy of '{old.name}' rebuilt from {type(old).__name__}'s "
            f"config has {len(news)} layers, the original {len(olds)}; its "
            "weights cannot be copied."
        )
    pairs = [("", old, new)]
    for (name, layer, _), (_, target, parents) in zip(olds, news, strict=True):
        if prefix + name in names:
            replacement = convert(layer)
            for parent in parents:
                _swap(parent, target, replacement, prefix + name)
        elif type(layer) is not type(target):
            raise ValueError(
                f"Layer {prefix + name!r} is a {type(layer).__name__} and "
                f"the copy rebuilt from {type(old).__name__}'s config holds "
                f"a {type(target).__name__} there (a config does not record "
                "masks): mask a model's layers in one call, and bake a "
                "masked model before masking it again."
            )
        else:
            pairs.append((name, layer, target))
    for name, source, target in pairs:
        values = _own_weights(source)
        variables = _own_weights(target)
        shapes = [tuple(v.shape) for v in values]
        if shapes != [tuple(v.shape) for v in variables]:
            raise ValueError(
                f"Layer {prefix + name or old.name!r} rebuilt from its config "
                f"has weights of shapes {[tuple(v.shape) for v in variables]}"
                f", the original {shapes}; its weights cannot be copied."
            )
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


def _swap(
    parent: keras.layers.Layer,
    old: keras.layers.Layer,
    new: keras.layers.Layer,
    name: str,
) -> None:
    """Replaces `old` by `new` wherever `parent` holds it, keeping the order
    of `parent`'s layers."""
    if _is_functional(parent) or isinstance(parent, keras.Sequential):
        raise ValueError(
            f"Layer {name!r} sits in the graph of '{parent.name}', which "
            "mask_model could not rebuild."
        )
    tracker = parent._tracker
    locked = tracker.locked
    tracker.unlock()
    try:
        tracker.replace_tracked_value("layers", old, new)
        found = False
        holders = dict(vars(parent))
        holders.update(getattr(parent, "_modules", None) or {})  # torch
        for attr, value in holders.items():
            if value is old:
                setattr(parent, attr, new)
                found = True
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        found = True
            elif isinstance(value, dict):
                for key, item in value.items():
                    if item is old:
                        value[key] = new
                        found = True
        if not found:
            tracker.replace_tracked_value("layers", new, old)
            raise ValueError(
                f"Layer {name!r} is held by {type(parent).__name__} "
                f"'{parent.name}' somewhere other than an attribute, list or "
                "dict, so mask_model cannot swap it. Leave it out of "
                "`layers`."
            )
    finally:
        if locked:
            tracker.lock()


def _retrack_torch(model: keras.layers.Layer) -> None:
    """Refreshes the PyTorch parameter registries after swaps."""
    for layer in [model, *model._flatten_layers(include_self=False)]:
        if hasattr(layer, "_torch_params"):
            layer._track_variables()
