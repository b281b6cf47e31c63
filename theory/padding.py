"""Padding specifications shared by the NumPy references and the torch twins.

A padding is resolved, per spatial axis, to a pair ``(left, right)`` of zero pads, each in
``[0, N-1]`` for a kernel of size ``N`` along that axis. In terms of the *full* cross-correlation
(CS paper eq. 1b, output indices ``i ∈ [0, M+N-2]``) the padded output keeps the indices
``i ∈ [N-1-left, M-1+right]`` (CS paper eq. 12-14 with ``left = right = P``).

Accepted forms (``padding=`` argument everywhere in :mod:`theory`):

``"full"``
    ``(N-1, N-1)``: the full cross-correlation, ``P = N-1``.
``"valid"``
    ``(0, 0)``: ``P = 0``, output size ``M-N+1``.
``"same"``
    ``((N-1)//2, N//2)``: output size ``M``, centred as PyTorch ``padding='same'``,
    TensorFlow/JAX ``'SAME'`` and ``scipy.signal.correlate2d(..., 'same')`` do. This is what a CNN
    layer computes. For odd ``N`` it is the paper's ``P = (N-1)/2``.
``"same_numpy"``
    ``(N//2, (N-1)//2)``: output size ``M``, centred as ``np.correlate`` /
    ``scipy.signal.correlate(..., 'same')``. Differs from ``"same"`` only for even ``N``.
``int P``
    ``(P, P)`` with ``0 <= P <= N-1`` (CS paper eq. 12-14).
``(left, right)``
    an explicit pair, each in ``[0, N-1]``.

For 2-D inputs every form above applies to both axes; a per-axis pair of pairs
``((top, bottom), (left, right))`` is also accepted.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

PADDING_MODES = ("full", "valid", "same", "same_numpy")

Pads = tuple[tuple[int, int], ...]


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _axis_pads(spec, n: int, axis: int, d: int) -> tuple[int, int]:
    where = f"padding (axis {axis} of {d}, kernel size {n})"
    if isinstance(spec, str):
        if spec == "full":
            return (n - 1, n - 1)
        if spec == "valid":
            return (0, 0)
        if spec == "same":
            return ((n - 1) // 2, n // 2)
        if spec == "same_numpy":
            return (n // 2, (n - 1) // 2)
        raise ValueError(f"padding: unknown mode {spec!r}; expected one of {PADDING_MODES}, "
                         "an int P in [0, N-1] or a (left, right) pair")
    if _is_int(spec):
        pair = (int(spec), int(spec))
    elif isinstance(spec, Sequence) and len(spec) == 2 and all(_is_int(v) for v in spec):
        pair = (int(spec[0]), int(spec[1]))
    else:
        raise TypeError(f"{where}: expected a mode string, an int or a (left, right) pair of ints, "
                        f"got {spec!r}")
    for v in pair:
        if not 0 <= v <= n - 1:
            raise ValueError(f"{where}: pads must lie in [0, N-1] = [0, {n - 1}], got {pair}")
    return pair


def resolve_padding(padding, kernel_shape: Sequence[int]) -> Pads:
    """Resolve a padding specification to ``((left, right), ...)``, one pair per kernel axis (CS paper, eq. 12-14).

    Parameters
    ----------
    padding : str, int or pair
        ``'full'``, ``'valid'``, ``'same'``, ``'same_numpy'``, an int ``P``, a ``(left, right)`` pair, or
        (2-D) a per-axis pair of pairs; see the module docstring.
    kernel_shape : sequence of int
        The kernel's spatial sizes ``N`` (one per axis).

    Returns
    -------
    tuple of (int, int)
        Zero pads per axis, each in ``[0, N-1]``.

    Raises
    ------
    ValueError
        If the mode is unknown or a pad lies outside ``[0, N-1]``.
    TypeError
        If ``padding`` is not a mode string, an int or a pair of ints.

    Examples
    --------
    >>> from theory.padding import resolve_padding
    >>> resolve_padding("same", (4,)), resolve_padding("same_numpy", (4,)), resolve_padding(1, (3, 2))
    (((1, 2),), ((2, 1),), ((1, 1), (1, 1)))
    """
    d = len(kernel_shape)
    per_axis = None
    if d > 1 and isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == d \
            and all(isinstance(p, Sequence) and not isinstance(p, str) for p in padding):
        per_axis = list(padding)
    if per_axis is None:
        per_axis = [padding] * d
    return tuple(_axis_pads(p, int(n), a, d) for a, (p, n) in enumerate(zip(per_axis, kernel_shape)))


def output_shape(input_shape: Sequence[int], kernel_shape: Sequence[int], pads: Pads) -> tuple[int, ...]:
    """Spatial output shape ``M - N + 1 + left + right`` per axis.

    Degenerate-input policy: a padding that leaves no output (``N > M`` with ``'valid'``, say) is a
    ValueError, never an empty array.

    Parameters
    ----------
    input_shape, kernel_shape : sequence of int
        ``M`` and ``N`` per axis.
    pads : tuple of (int, int)
        As returned by :func:`resolve_padding`.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If an axis would be empty.

    Examples
    --------
    >>> from theory.padding import output_shape
    >>> output_shape((9,), (3,), ((0, 0),)), output_shape((9,), (3,), ((2, 2),))
    ((7,), (11,))
    """
    out = []
    for a, (m, n, (lo, hi)) in enumerate(zip(input_shape, kernel_shape, pads)):
        size = m - n + 1 + lo + hi
        if size < 1:
            raise ValueError(
                f"padding {(lo, hi)} on axis {a}: input size M={m} and kernel size N={n} leave no output "
                f"(M-N+1+left+right = {size}); use a larger padding or an input with M >= N")
        out.append(size)
    return tuple(out)


def full_window(input_shape: Sequence[int], kernel_shape: Sequence[int], pads: Pads) -> tuple[slice, ...]:
    """Slices of the full cross-correlation that the padded output keeps, ``[N-1-left, M-1+right]``.

    CS paper, eq. 12-14.

    Parameters
    ----------
    input_shape, kernel_shape : sequence of int
        ``M`` and ``N`` per axis.
    pads : tuple of (int, int)
        As returned by :func:`resolve_padding`.

    Returns
    -------
    tuple of slice
        One per axis, into the full result of length ``M+N-1``.

    Raises
    ------
    ValueError
        If the padding leaves no output (:func:`output_shape`).

    Examples
    --------
    >>> from theory.padding import full_window
    >>> full_window((9,), (3,), ((0, 0),))
    (slice(2, 9, None),)
    """
    output_shape(input_shape, kernel_shape, pads)
    return tuple(slice(n - 1 - lo, m + hi) for m, n, (lo, hi) in zip(input_shape, kernel_shape, pads))
