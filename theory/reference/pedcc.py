"""Predefined evenly-distributed class centroids and the POD loss (POD paper, eq. 13-19).

Shapes: ``features`` ``(B, n)`` (one latent feature vector per sample), ``labels`` integer ``(B,)``
in ``[0, k)``, ``centroids`` ``(k, n)`` (one PEDCC centroid per class). ``cos θ_{y_i}`` is the cosine of
the angle between sample ``i``'s feature vector and the centroid of its class ``y_i``.

A zero feature vector has no direction: every function that normalises features raises ValueError
naming ``features`` (likewise a zero centroid, naming ``centroids``). Cosines are scale invariant and
computed so: each row is first divided by the power of two nearest its largest magnitude (exact), so
only an exactly zero row is a zero vector and any finite non-zero rows, however large or small, have a
cosine. A call over the memory or work cap (:mod:`theory._validate`), or whose result overflows
float64, is a ValueError naming the argument.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_centroid_count, check_lam, check_seed, check_work
from ._arrays import as_real, check_alloc, finite, int_labels, pow2_scaled

__all__ = ["pedcc_centroids", "cosine_loss", "sc_loss", "pod_loss", "pedcc_predict"]


def _orthonormal_columns(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, m)`` with orthonormal columns, Haar-distributed: QR of a Gaussian matrix, signs fixed by ``diag R > 0``."""
    q, r = np.linalg.qr(rng.standard_normal((n, m)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def pedcc_centroids(k: int, n: int, seed: int = 0) -> np.ndarray:
    """``k`` unit vectors in ``R^n`` with ``<a_i, a_j> = -1/(k-1)`` for ``i ≠ j``, as rows (POD paper, Sec. III-B).

    The theorem the POD paper cites: for ``k <= n+1`` points evenly distributed on the unit
    hypersphere of ``R^n``, ``<a_i, a_j> = -1/(k-1)``, ``i ≠ j``. The paper's PEDCC comes from an
    iterative physical model (charges repelling on the sphere); any configuration with these inner
    products is the same up to an orthogonal map and meets the theorem, and the losses below depend on
    nothing else. We build one directly:

    * the centred standard basis of ``R^k``, ``u_i = e_i - (1/k)·1``, normalised (a regular simplex,
      ``<u_i, u_j> = -1/(k-1)``, ``Σ_i u_i = 0``), written in an orthonormal basis of ``1^⊥`` (``k-1``
      coordinates, the Q of a QR factorisation of ``e_0 - 1/k, ..., e_{k-2} - 1/k``);
    * mapped into ``R^n`` by a random ``(n, k-1)`` matrix with orthonormal columns (QR of a Gaussian
      matrix from ``numpy.random.default_rng(seed)``, signs fixed by ``diag R > 0``), which preserves
      every inner product.

    ``k = 1`` gives one random unit vector (a Gaussian vector, normalised). Rows are renormalised to
    unit length against rounding.

    Parameters
    ----------
    k : int
        Number of classes, ``1 <= k <= n + 1``.
    n : int
        Dimension of the latent features, ``>= 1``.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives the same centroids.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(k, n)``.

    Raises
    ------
    ValueError
        If ``k`` or ``n`` is not a positive int, ``k > n + 1``, ``seed`` is not an int >= 0, or the
        centroids would not fit in the memory cap (:data:`theory._validate.MEMORY_CAP`).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> a = R.pedcc_centroids(3, 4, seed=0)
    >>> a.shape, np.round(a @ a.T, 12).tolist()
    ((3, 4), [[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])
    """
    k, n = check_centroid_count(k, n)
    seed = check_seed(seed)
    check_alloc("k and n", 4 * n * k + 3 * k * k, "the centroids")
    rng = np.random.default_rng(seed)
    if k == 1:
        a = _orthonormal_columns(n, 1, rng).T
    else:
        u = np.eye(k) - 1.0 / k
        u /= np.sqrt((k - 1) / k)                                 # rows: unit simplex vertices in R^k
        basis = np.linalg.qr(np.eye(k)[:, : k - 1] - 1.0 / k)[0]  # orthonormal basis of 1^⊥, (k, k-1)
        coords = u @ basis                                        # (k, k-1), same inner products
        a = coords @ _orthonormal_columns(n, k - 1, rng).T        # (k, n)
    return a / np.sqrt(np.sum(a * a, axis=1, keepdims=True))


def _check_triplet(features, labels, centroids):
    f = as_real("features", features, 2, "B, n")
    c = as_real("centroids", centroids, 2, "k, n")
    if c.shape[1] != f.shape[1]:
        raise ValueError(f"features and centroids: expected the same feature dimension n, got features "
                         f"{f.shape} and centroids {c.shape}")
    y = int_labels(labels, f.shape[0], c.shape[0])
    return f, y, c


def _scaled(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows scaled by powers of two, their norms)``; a zero row is a ValueError naming ``name``."""
    u, zero = pow2_scaled(a, 1)
    if np.any(zero):
        raise ValueError(f"{name}: row {int(np.argmax(zero))} is a zero vector; its direction is undefined")
    return u, np.sqrt(np.sum(u * u, axis=1))


def cosine_loss(features, labels, centroids) -> float:
    """Cosine loss (POD paper, eq. 13)::

        L_Cosine = (1/B) Σ_{i=1}^{B} (1 - cos θ_{y_i})²,   cos θ_{y_i} = <x_i, c_{y_i}> / (||x_i||·||c_{y_i}||)

    with ``x_i = features[i]``, ``c_{y_i} = centroids[labels[i]]``. In ``[0, 4]``; invariant to positive
    rescaling of each feature vector.

    Parameters
    ----------
    features : array_like, shape (B, n)
        Latent features, no zero row.
    labels : array_like of int, shape (B,)
        Classes in ``[0, k)``.
    centroids : array_like, shape (k, n)
        One centroid per class, no zero row.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an array is not real, or ``labels`` not integer.
    ValueError
        If a rank, a value, a label, the dimensions ``n`` are bad, or a row is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> c = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> R.cosine_loss(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), c)   # cosines 1 and 0
    0.5
    """
    f, y, c = _check_triplet(features, labels, centroids)
    check_work("features", "the cosines", steps=f.shape[0], flops=f.size)
    (f, fn), (c, cn) = _scaled("features", f), _scaled("centroids", c)
    cos = [np.dot(f[i], c[y[i]]) / (fn[i] * cn[y[i]]) for i in range(f.shape[0])]
    return float(np.mean([(1.0 - ci) ** 2 for ci in cos]))


def sc_loss(features, labels, centroids) -> float:
    """Self-correlation constraint loss, exactly POD paper, eq. 14-15::

        R = (1/(B-1)) (X - X_pedcc)(X - X_pedcc)ᵀ              (n×n)
        L_SC = Σ_{i=1}^{n} Σ_{j≠i} R_ij²

    where the columns of ``X`` (``n×B``) are the feature vectors normalised to unit length ("X is the
    normalized feature matrix of B samples ... each column vector represents a sample") and the
    columns of ``X_pedcc`` are the centroids of the samples' classes, ``centroids[labels]``, used as
    given. Despite the paper's wording ("correlation coefficient"), ``R`` is NOT a correlation matrix:
    nothing is centred and nothing is scaled to unit diagonal; it is the second-moment matrix of the
    differences.

    Parameters
    ----------
    features : array_like, shape (B, n)
        Latent features, ``B >= 2``, no zero row.
    labels : array_like of int, shape (B,)
        Classes in ``[0, k)``.
    centroids : array_like, shape (k, n)
        One centroid per class.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        As :func:`cosine_loss`; ValueError also for ``B < 2`` (eq. 15 divides by ``B-1``).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> c = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> R.sc_loss(np.array([[1.0, 1.0], [-1.0, 0.0]]), np.array([0, 1]), c)
    0.08578643762690497
    """
    f, y, c = _check_triplet(features, labels, centroids)
    if f.shape[0] < 2:
        raise ValueError(f"features: eq. 15 divides by B-1; expected B >= 2 samples, got shape {f.shape}")
    n = f.shape[1]
    check_alloc("features", 2 * n * n, "the n×n matrix R")
    check_work("features", "the n×n matrix R", steps=n * n, flops=n * n * f.shape[0])
    f, fn = _scaled("features", f)
    x = (f / fn[:, None]).T                       # (n, B), samples as columns
    x_pedcc = c[y].T                              # (n, B)
    diff = x - x_pedcc
    r = diff @ diff.T / (f.shape[0] - 1)          # (n, n)
    return finite("centroids", float(sum(r[i, j] ** 2 for i in range(n) for j in range(n) if i != j)))


def pod_loss(features, labels, centroids, lam: float = 1.0) -> float:
    """POD loss (POD paper, eq. 16): ``L_POD = L_Cosine + λ·L_SC`` (:func:`cosine_loss`, :func:`sc_loss`).

    Parameters
    ----------
    features : array_like, shape (B, n)
        Latent features, ``B >= 2``, no zero row.
    labels : array_like of int, shape (B,)
        Classes in ``[0, k)``.
    centroids : array_like, shape (k, n)
        One centroid per class.
    lam : float, default 1.0
        ``λ``, finite.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        As :func:`sc_loss`, and for a ``lam`` that is not a finite real number.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> c = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> f, y = np.array([[2.0, 0.0], [-3.0, 0.0]]), np.array([0, 1])
    >>> R.pod_loss(f, y, c, 0.5)    # features on their centroids' rays
    0.0
    """
    lam = check_lam(lam)
    return finite("centroids and lam", cosine_loss(features, labels, centroids)
                  + lam * sc_loss(features, labels, centroids))


def pedcc_predict(features, centroids) -> np.ndarray:
    """Class of each sample by cosine similarity to the centroids (POD paper, eq. 17-19)::

        I = argmax_{i=1..k} cos θ_{x, pedcc_i}

    (eq. 19; equal to eq. 17's ``argmax x·pedcc_i`` for unit centroids).

    Parameters
    ----------
    features : array_like, shape (B, n)
        Latent features, no zero row.
    centroids : array_like, shape (k, n)
        One centroid per class, no zero row.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(B,)``, in ``[0, k)``; the first index on ties.

    Raises
    ------
    TypeError
        If an array is not real numeric.
    ValueError
        If a rank, a value or the dimensions ``n`` are bad, or a row is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> c = np.array([[1.0, 0.0], [0.0, 5.0]])
    >>> R.pedcc_predict(np.array([[1.0, 0.5], [0.1, 2.0]]), c).tolist()
    [0, 1]
    """
    f = as_real("features", features, 2, "B, n")
    c = as_real("centroids", centroids, 2, "k, n")
    if c.shape[1] != f.shape[1]:
        raise ValueError(f"features and centroids: expected the same feature dimension n, got features "
                         f"{f.shape} and centroids {c.shape}")
    b_count, k = f.shape[0], c.shape[0]
    check_alloc("features and centroids", b_count * k, "the B×k cosines")
    check_work("features and centroids", "the B×k cosines", steps=b_count * k, flops=b_count * k * f.shape[1])
    (f, fn), (c, cn) = _scaled("features", f), _scaled("centroids", c)
    cos = np.array([[np.dot(f[b], c[i]) / (fn[b] * cn[i]) for i in range(k)] for b in range(b_count)])
    return np.argmax(cos, axis=1).astype(np.int64)
