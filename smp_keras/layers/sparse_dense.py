"""`SparseDense`: an inference-time dense layer that stores only its kept
weights and multiplies with the backend's sparse kernel.

A pruned kernel is mostly zeros; :class:`SparseDense` keeps the nonzero
weights of the `(in, out)` kernel in coordinate form, transposed
(`(out, in)`, rows sorted, the layout of compressed sparse rows), and
computes ``y = x @ kernel + bias`` with the fastest sparse product each
backend offers on a CPU:

- **PyTorch**: a `torch.sparse_csr_tensor` times the dense activations
  (Intel MKL's sparse BLAS in the CPU wheels), the CSR tensor built once
  per variable state;
- **TensorFlow**: `tf.sparse.sparse_dense_matmul`;
- **JAX**: `jax.experimental.sparse.BCOO`, under `jit`;
- **NumPy** (Keras's NumPy backend): SciPy's CSR product.

Whether the sparse product pays depends on the backend, the shape and the
density: :func:`sparse_pays` is the rule measured by
``benchmarks/bench_sparse.py`` (`docs/benchmarks.md`, "Sparse execution");
:func:`~smp_keras.bert.compact` with ``sparse=True`` applies it per
matrix and keeps a plain `Dense` where sparse does not pay.

The layer is for inference: it has no trainable weights and no gradient.
Its ``.keras`` file stores the kept weights (4 bytes each) and their row
and column indices (4 bytes each), so a kernel at density `d` takes
``12 d`` of its dense size (1.2 bytes per weight at 10%).
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from smpcore.validation import check_density

__all__ = ["SPARSE_MAX_DENSITY", "SparseDense", "sparse_pays"]

#: Backend -> the largest density (fraction kept) at which the sparse
#: product is used. Read off ``benchmarks/results/sparse_<backend>.json``
#: (2-core CPU, MiniLM and BERT-base shapes). PyTorch's MKL CSR product,
#: measured on a quiet machine, beat the dense one on all six shapes at 3%
#: kept and 128 tokens (1.1-3.2x), but at 10% it lost on MiniLM's 384->384
#: (0.88x) and tied on its 1536->384, and at 4,096 tokens it lost on every
#: shape at 10% (0.47-0.87x): its crossover lies between the 3% and 10%
#: measured, and 5% keeps a 3% model's matrices, which SMP-S spreads a
#: little around 3%, on the sparse side. SciPy beat NumPy on all shapes at
#: 3% only. TensorFlow's `sparse_dense_matmul` lost everywhere (0.2-0.5x
#: at 3%) and JAX's BCOO on all shapes but one, so those two stay dense
#: (an all-zero matrix, density 0, is still stored sparse: nothing to
#: multiply).
SPARSE_MAX_DENSITY: dict[str, float] = {
    "torch": 0.05,
    "tensorflow": 0.0,
    "jax": 0.0,
    "numpy": 0.03,
}


def sparse_pays(
    density: float, backend: str | None = None, max_density: float | None = None
) -> bool:
    """Whether a `SparseDense` should replace a dense kernel of `density`.

    Args:
        density: Fraction of the kernel's weights that are nonzero.
        backend: Keras backend name; default: the current one.
        max_density: Override of the backend's measured crossover
            (:data:`SPARSE_MAX_DENSITY`).

    Returns:
        True when `density` is at or below the crossover.

    Raises:
        ValueError: For a density outside [0, 1] or an unknown backend.

    Example:
        >>> sparse_pays(0.03, backend="torch")
        True
        >>> sparse_pays(0.1, backend="torch")
        False
    """
    check_density(density, "density")
    backend = backend or keras.backend.backend()
    if max_density is None:
        if backend not in SPARSE_MAX_DENSITY:
            raise ValueError(
                f"`backend` must be one of {tuple(SPARSE_MAX_DENSITY)}. "
                f"Received: backend={backend!r}"
            )
        max_density = SPARSE_MAX_DENSITY[backend]
    else:
        check_density(max_density, "max_density")
    return density <= max_density


@keras.saving.register_keras_serializable(package="smp_keras")
class SparseDense(keras.layers.Layer):
    """A dense layer holding only its nonzero weights (inference only).

    Computes ``activation(x @ kernel + bias)`` like `keras.layers.Dense`,
    with the kernel stored sparse. Build one from a dense kernel with
    :meth:`from_kernel`.

    Args:
        units: Output width.
        nonzeros: Number of stored weights.
        use_bias: Whether the layer adds a bias.
        activation: A Keras activation (name or callable).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
        >>> import numpy as np
        >>> kernel = np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]], "float32")
        >>> layer = SparseDense.from_kernel(kernel, np.ones(2, "float32"))
        >>> np.asarray(layer(np.ones((1, 3), "float32"))).tolist()
        [[2.0, 3.0]]
    """

    def __init__(
        self,
        units: int,
        nonzeros: int,
        use_bias: bool = True,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value, low in (
            ("units", units, 1),
            ("nonzeros", nonzeros, 0),
        ):
            if (
                not isinstance(value, int | np.integer)
                or isinstance(value, bool)
                or value < low
            ):
                raise ValueError(
                    f"`{name}` must be an integer >= {low}. Received: "
                    f"{name}={value!r}"
                )
        self.units = int(units)
        self.nonzeros = int(nonzeros)
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        self.trainable = False
        self._csr: Any = None

    def build(self, input_shape: Any) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "`SparseDense` needs a known last input dimension. Received: "
                f"input_shape={input_shape}"
            )
        self.input_dim = int(input_dim)
        if self.nonzeros > self.input_dim * self.units:
            raise ValueError(
                f"`nonzeros` must be at most input_dim * units = "
                f"{self.input_dim * self.units}. Received: "
                f"nonzeros={self.nonzeros}"
            )
        n = (self.nonzeros,)
        self.values = self.add_weight(
            name="values", shape=n, initializer="zeros", trainable=False
        )
        self.rows = self.add_weight(
            name="rows",
            shape=n,
            dtype="int32",
            initializer="zeros",
            trainable=False,
        )
        self.columns = self.add_weight(
            name="columns",
            shape=n,
            dtype="int32",
            initializer="zeros",
            trainable=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer="zeros",
                trainable=False,
            )
        else:
            self.bias = None

    @classmethod
    def from_kernel(
        cls,
        kernel: np.ndarray,
        bias: np.ndarray | None = None,
        activation: Any = None,
        name: str | None = None,
    ) -> SparseDense:
        """A built `SparseDense` computing ``x @ kernel (+ bias)``.

        Args:
            kernel: `(in, out)` array; its nonzero entries are stored.
            bias: `(out,)` array, or None for no bias.
            activation: A Keras activation.
            name: Layer name.

        Raises:
            ValueError: If `kernel` is not 2-D or `bias` does not match it.
        """
        kernel = np.asarray(kernel, "float32")
        if kernel.ndim != 2:
            raise ValueError(
                "`kernel` must be a 2-D (in, out) array. Received: "
                f"kernel of shape {kernel.shape}"
            )
        if bias is not None and np.shape(bias) != (kernel.shape[1],):
            raise ValueError(
                f"`bias` must have shape ({kernel.shape[1]},). Received: "
                f"bias of shape {np.shape(bias)}"
            )
        rows, columns = np.nonzero(kernel.T)  # row-major: sorted rows
        layer = cls(
            kernel.shape[1],
            int(rows.size),
            use_bias=bias is not None,
            activation=activation,
            name=name,
        )
        layer.build((None, kernel.shape[0]))
        weights = [
            kernel.T[rows, columns],
            rows.astype("int32"),
            columns.astype("int32"),
        ]
        if bias is not None:
            weights.append(np.asarray(bias, "float32"))
        layer.set_weights(weights)
        return layer

    @property
    def density(self) -> float:
        """Fraction of the `(in, out)` kernel that is stored."""
        return self.nonzeros / (self.input_dim * self.units)

    def kernel(self) -> np.ndarray:
        """The dense `(in, out)` kernel, as a NumPy array."""
        out = np.zeros((self.units, self.input_dim), "float32")
        rows = keras.ops.convert_to_numpy(self.rows)
        columns = keras.ops.convert_to_numpy(self.columns)
        out[rows, columns] = keras.ops.convert_to_numpy(self.values)
        return out.T

    def load_own_variables(self, store: Any) -> None:
        super().load_own_variables(store)
        self._csr = None

    def set_weights(self, weights: Any) -> None:
        super().set_weights(weights)
        self._csr = None  # rebuilt from the new values on the next call

    def _product(self, x: Any) -> Any:
        """`(tokens, in) @ kernel` with the backend's sparse kernel."""
        backend = keras.backend.backend()
        shape = (self.units, self.input_dim)
        if backend == "torch":
            import torch

            if self._csr is None:
                crow = torch.zeros(self.units + 1, dtype=torch.int64)
                rows = self.rows.value.to(torch.int64)
                crow[1:] = torch.cumsum(
                    torch.bincount(rows, minlength=self.units), 0
                )
                with warnings.catch_warnings():  # "CSR support is in beta"
                    warnings.simplefilter("ignore", UserWarning)
                    self._csr = torch.sparse_csr_tensor(
                        crow,
                        self.columns.value.to(torch.int64),
                        self.values.value.detach(),
                        size=shape,
                        check_invariants=True,  # once, at construction
                    )
            with torch.no_grad():
                return (self._csr @ x.T.contiguous()).T
        if backend == "tensorflow":
            import tensorflow as tf

            indices = tf.cast(
                tf.stack([self.rows.value, self.columns.value], axis=1),
                tf.int64,
            )
            matrix = tf.sparse.SparseTensor(indices, self.values.value, shape)
            return tf.transpose(
                tf.sparse.sparse_dense_matmul(matrix, x, adjoint_b=True)
            )
        if backend == "jax":
            import jax.numpy as jnp
            from jax.experimental import sparse

            indices = jnp.stack([self.rows.value, self.columns.value], axis=1)
            matrix = sparse.BCOO((self.values.value, indices), shape=shape)
            return (matrix @ x.T).T
        import scipy.sparse

        matrix = scipy.sparse.csr_matrix(
            (
                np.asarray(self.values.value),
                (np.asarray(self.rows.value), np.asarray(self.columns.value)),
            ),
            shape=shape,
        )
        return np.asarray(matrix @ np.asarray(x).T).T

    def call(self, inputs: Any) -> Any:
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        leading = ops.shape(x)[:-1]
        flat = ops.reshape(x, (-1, self.input_dim))
        y = self._product(flat)
        y = ops.reshape(y, (*leading, self.units))
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation is not None else y

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "nonzeros": self.nonzeros,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
