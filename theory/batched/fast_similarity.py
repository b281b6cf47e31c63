"""Convolutional Similarity in time linear in ``S·C``, and L_CS over a whole model.

Computed pair by pair, L_CS (CS paper, eq. 10) of ``S`` kernels with ``C`` channels costs ``O(S²·C²·N^(2d))``.
With ``a_i = Σ_c K_i[c] ⋆ K_i[c]`` (channel-summed autocorrelation of kernel ``i``), Parseval gives
``Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n] = <a_i, a_j>`` and therefore::

    L_CS = ½ (||Σ_i a_i||² - Σ_i ||a_i||²)                                   (Gram route)
         = 1/(2L) Σ_ω [(Σ_i P_i(ω))² - Σ_i P_i(ω)²],  P_i = Σ_c |K̂_i[c]|²    (FFT route, L ≥ 2N-1)

The Gram route forms ``a_i`` by summing the Gram matrix ``K_iᵀK_i`` (``N^d × N^d``, one batched matmul
over ``C``) along its lag diagonals with a fixed 0/1 matrix. Both are exact rewritings of eq. 10;
the tests hold them to the direct pairwise route in float64.

A call over the memory cap (:mod:`theory._validate`; the Gram route's lag matrix grows as ``N^(3d)``) and
a result that overflows its dtype are ValueErrors naming ``weight``; float16/bfloat16 input is computed
in float32.
"""

from __future__ import annotations

import functools
import math
import numbers

import torch

from .._validate import check_d, check_flag, check_memory
from ._tensors import check_alloc, device_memory, finite_result, real_tensor

__all__ = ["kernel_autocorrelation_sum", "conv_similarity_fast", "conv_similarity_normalized",
           "model_conv_similarity", "CS_METHODS"]

CS_METHODS = ("gram", "fft")


@functools.lru_cache(maxsize=64)
def _lag_scatter(kshape: tuple[int, ...]) -> torch.Tensor:
    """0/1 matrix ``E`` of shape ``(T², prod(2N-1))``: ``E[(m, m'), n] = 1`` iff ``m' - m = n`` per axis."""
    t = math.prod(kshape)
    idx = torch.stack(torch.meshgrid(*[torch.arange(s) for s in kshape], indexing="ij"), -1).reshape(t, -1)
    lag = idx[None, :, :] - idx[:, None, :]                         # (T, T, d): m' - m
    sizes = [2 * s - 1 for s in kshape]
    flat = torch.zeros(t, t, dtype=torch.long)
    for a, s in enumerate(kshape):
        flat = flat * sizes[a] + (lag[..., a] + s - 1)
    e = torch.zeros(t * t, math.prod(sizes), dtype=torch.float64)
    e[torch.arange(t * t), flat.reshape(-1)] = 1.0
    return e


def _check_weight(weight, d):
    d = check_d(d)
    return real_tensor("weight", weight, d + 2, "S, C, kernel axes"), d


class _SelfGram(torch.autograd.Function):
    """``G = kᵀk`` per batch entry, with the one-matmul backward ``∂k = k·(∂G + ∂Gᵀ)``."""

    @staticmethod
    def forward(ctx, k):
        ctx.save_for_backward(k)
        return k.transpose(-1, -2) @ k

    @staticmethod
    def backward(ctx, grad):
        (k,) = ctx.saved_tensors
        # k·(∂G + ∂Gᵀ) lands in k's own (contiguous) layout; the transposed product (∂G + ∂Gᵀ)·kᵀ is a faster
        # matmul but autograd then copies its transposed result into the weight's layout (measured on the
        # whole ResNet18: 1.24-1.48x faster this way, benchmarks/bench_lcs.py).
        return k @ (grad + grad.transpose(-1, -2))


def _check_gram_route(w: torch.Tensor, d: int) -> None:
    """The memory cap of the Gram route: the per-kernel Gram matrices ``(..., S, T, T)`` and the 0/1 lag
    matrix ``(T², prod(2N-1))`` (float64, cached), ``T = prod(N)``."""
    kshape = tuple(w.shape[-d:])
    t, lags = math.prod(kshape), math.prod(2 * s - 1 for s in kshape)
    rows = math.prod(w.shape[:-d - 1])                              # (..., S)
    check_alloc("weight", 2 * rows * t * t + rows * lags, w, "the Gram route's per-kernel Gram matrices")
    if w.device.type != "meta":
        check_memory("weight", 8 * t * t * lags * 2, "the Gram route's lag matrix",
                     available=device_memory(w.device))


def _autocorrelation_sum(w: torch.Tensor, d: int) -> torch.Tensor:
    _check_gram_route(w, d)
    kshape = tuple(w.shape[-d:])
    t = math.prod(kshape)
    k = w.reshape(*w.shape[:-d], t)                                 # (..., S, C, T)
    gram = _SelfGram.apply(k)                                       # (..., S, T, T)
    e = _lag_scatter(kshape).to(dtype=w.dtype, device=w.device)
    a = gram.reshape(*gram.shape[:-2], t * t) @ e
    return a.reshape(*a.shape[:-1], *(2 * s - 1 for s in kshape))


def kernel_autocorrelation_sum(weight, *, d: int) -> torch.Tensor:
    """``a_i = Σ_c K_i[c] ⋆ K_i[c]`` for a weight ``(..., S, C, *kernel)``: result ``(..., S, *(2N-1,)*d)``.

    Twin of :func:`theory.reference.kernel_autocorrelation_sum` (Gram route).

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, S, *(2N-1,)*d)``.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor.
    ValueError
        If ``d``, the rank or a value is bad.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.kernel_autocorrelation_sum(torch.tensor([[[1.0, 2.0], [0.0, 1.0]]]), d=1).tolist()
    [[2.0, 6.0, 2.0]]
    """
    w, d = _check_weight(weight, d)
    return finite_result("weight", _autocorrelation_sum(w, d))


def _power_spectra(w, d):
    size = tuple(2 * s - 1 for s in w.shape[-d:])
    z = torch.fft.rfftn(w, s=size, dim=tuple(range(-d, 0)))
    p = (z.real * z.real + z.imag * z.imag).sum(dim=-d - 1)        # (..., S, *freq)
    # rfft keeps half of the last axis: weight each bin by its multiplicity in the full spectrum.
    last = size[-1]
    mult = torch.full((z.shape[-1],), 2.0, dtype=w.dtype, device=w.device)
    mult[0] = 1.0
    if last % 2 == 0:
        mult[-1] = 1.0
    return p, mult, math.prod(size)


def conv_similarity_fast(weight, *, d: int, method: str = "gram") -> torch.Tensor:
    """L_CS (CS paper, eq. 10) of a weight ``(..., S, C, *kernel)`` in ``O(S·C·N^(2d))``: result shape ``(...)``.

    ``method='gram'`` (default, the faster on CPU in ``benchmarks/bench_lcs.py``) or ``'fft'``.
    Equal to :func:`theory.reference.conv_similarity` (tested in float64).

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights.
    d : {1, 2}
        Spatial rank, keyword-only.
    method : {'gram', 'fft'}, default 'gram'
        The route (module docstring).

    Returns
    -------
    torch.Tensor
        Shape: the batch.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor.
    ValueError
        If ``d``, the rank or a value is bad, or ``method`` is unknown.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> w = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]], dtype=torch.float64)
    >>> B.conv_similarity_fast(w, d=1).item(), round(B.conv_similarity_fast(w, d=1, method="fft").item(), 10)
    (38.0, 38.0)
    """
    w, d = _check_weight(weight, d)
    return finite_result("weight", _conv_similarity(w, d, method))


def _conv_similarity(w: torch.Tensor, d: int, method: str) -> torch.Tensor:
    if method not in CS_METHODS:
        raise ValueError(f"method: expected one of {CS_METHODS}, got {method!r}")
    if method == "gram":
        a = _autocorrelation_sum(w, d).flatten(-d)                   # (..., S, L)
        total = a.sum(dim=-2)
        return 0.5 * ((total * total).sum(-1) - (a * a).sum(dim=(-2, -1)))
    if method == "fft":
        check_alloc("weight", 6 * w.numel() * 2 ** d, w, "the spectra")
        p, mult, size = _power_spectra(w, d)
        p = p.flatten(-d).reshape(*p.shape[:-d], -1, mult.numel())  # (..., S, rest, last)
        total = p.sum(dim=-3)
        diff = total * total - (p * p).sum(dim=-3)
        return (diff * mult).sum(dim=(-2, -1)) / (2 * size)
    raise ValueError(f"method: expected one of {CS_METHODS}, got {method!r}")


def conv_similarity_normalized(weight, *, d: int, method: str = "gram") -> torch.Tensor:
    """Scale-invariant L_CS: each kernel divided by its norm first (see the reference's docstring).

    Twin of :func:`theory.reference.conv_similarity_normalized`. A zero kernel is a ValueError.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights, no zero kernel.
    d : {1, 2}
        Spatial rank, keyword-only.
    method : {'gram', 'fft'}, default 'gram'
        The route of :func:`conv_similarity_fast`.

    Returns
    -------
    torch.Tensor
        Shape: the batch.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor.
    ValueError
        If ``d``, the rank or a value is bad, a kernel is zero or ``method`` is unknown.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> w = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]], dtype=torch.float64)
    >>> B.conv_similarity_normalized(w, d=1).item(), B.conv_similarity_normalized(10 * w, d=1).item()
    (0.76, 0.76)
    """
    w, d = _check_weight(weight, d)
    flat = w.flatten(-d - 1)                                        # (..., S, C·T)
    peak = flat.abs().amax(dim=-1, keepdim=True)
    if w.device.type != "meta" and bool((peak == 0).any()):
        raise ValueError("weight: a kernel is zero; the normalised L_CS is undefined for it")
    unit = flat / peak                                              # scale first: no underflow
    unit = unit / unit.norm(dim=-1, keepdim=True)
    return _conv_similarity(unit.reshape(w.shape), d, method)


def model_conv_similarity(model: torch.nn.Module, *, layers=None, layer_weights=None,
                          normalized: bool = False, method: str = "gram",
                          reduce: bool = True):
    """L_CS summed over the ``Conv1d``/``Conv2d`` layers of ``model`` (CS paper, Algorithms 1-2: a plain sum).

    ``layers``: names (as in ``model.named_modules()``) or a predicate ``(name, module) -> bool``;
    default every Conv1d/Conv2d. ``layer_weights``: a dict name -> factor (missing names count 1) or a
    callable ``(name, module) -> float``. ``normalized=True`` uses :func:`conv_similarity_normalized`.
    Grouped convolutions are rejected (eq. 10 assumes every kernel sees every input channel).
    Returns the weighted sum (differentiable; use as a regulariser or a metric), or with
    ``reduce=False`` a dict name -> unweighted per-layer value.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    layers : iterable of str or callable, optional
        Layer names, or a predicate ``(name, module) -> bool``; default every Conv1d/Conv2d.
    layer_weights : dict or callable, optional
        Per-layer factors (missing names count 1).
    normalized : bool, default False
        Use :func:`conv_similarity_normalized`.
    method : {'gram', 'fft'}, default 'gram'
        The route of :func:`conv_similarity_fast`.
    reduce : bool, default True
        Return the weighted sum; ``False``: a dict name -> unweighted per-layer value.

    Returns
    -------
    torch.Tensor or dict of str to torch.Tensor

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module``, ``layers`` is a single string (pass a list of names),
        ``layer_weights`` is neither a dict nor callable, or ``normalized``/``reduce`` is not a bool.
    ValueError
        If ``layers`` names a layer that is not a Conv1d/Conv2d, selects none, or a selected layer is
        grouped; ``layer_weights`` has a key that is not a Conv1d/Conv2d layer of the model (the message
        lists the valid names) or a factor that is not a finite number; or ``method`` is unknown.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 2, bias=False), torch.nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]]))
    ...     B.model_conv_similarity(net).item()
    38.0
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    normalized, reduce = check_flag("normalized", normalized), check_flag("reduce", reduce)
    if method not in CS_METHODS:
        raise ValueError(f"method: expected one of {CS_METHODS}, got {method!r}")
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    known_all = sorted(n for n, _ in convs)
    if layer_weights is not None and not callable(layer_weights):
        if not isinstance(layer_weights, dict):
            raise TypeError(f"layer_weights: expected a dict name -> factor or a callable, "
                            f"got {type(layer_weights).__name__}")
        unknown = [k for k in layer_weights if k not in known_all]
        if unknown:
            raise ValueError(f"layer_weights: {unknown} are not Conv1d/Conv2d layers of the model; "
                             f"valid names: {known_all}")
    if layers is not None:
        if isinstance(layers, str):
            raise TypeError(f"layers: expected a list of layer names or a predicate, got the string {layers!r} "
                            f"(pass [{layers!r}])")
        if callable(layers):
            convs = [(n, m) for n, m in convs if layers(n, m)]
        else:
            wanted = list(layers)
            known = {n for n, _ in convs}
            missing = [n for n in wanted if n not in known]
            if missing:
                raise ValueError(f"layers: {missing} are not Conv1d/Conv2d layers of the model; known: {sorted(known)}")
            convs = [(n, m) for n, m in convs if n in set(wanted)]
    fn = conv_similarity_normalized if normalized else conv_similarity_fast
    values = {}
    for name, m in convs:
        if m.groups != 1:
            raise ValueError(f"layers: {name!r} is a grouped convolution (groups={m.groups}); L_CS needs groups=1")
        try:
            values[name] = fn(m.weight, d=2 if isinstance(m, torch.nn.Conv2d) else 1, method=method)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"model: layer {name!r}: {exc}") from None
    if not reduce:
        return values
    total = None
    for name, v in values.items():
        f = 1.0 if layer_weights is None else _factor(name, layer_weights(name, dict(convs)[name])
                                                      if callable(layer_weights) else layer_weights.get(name, 1.0))
        total = v * f if total is None else total + v * f
    if total is None:
        raise ValueError("layers: no Conv1d/Conv2d layer selected")
    return finite_result("model and layer_weights", total)


def _factor(name: str, value) -> float:
    """A layer's factor from ``layer_weights``: a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) and not (
            isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex()):
        raise TypeError(f"layer_weights: the factor of layer {name!r} must be a real number, got {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"layer_weights: the factor of layer {name!r} must be finite, got {f!r}")
    return f
