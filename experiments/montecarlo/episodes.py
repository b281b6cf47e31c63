"""Batched Monte Carlo runner: all episodes of one configuration optimised as one torch batch.

Speed ideas (``benchmarks/bench_montecarlo.py`` measures them):

1. **Never form feature maps.** For a padding keeping the full-result window ``i ∈ [N-1-left, M-1+right]``
   (``theory.padding``) the feature-map inner products are quadratic forms in the kernels::

       <F_a, F_b>_P = K_aᵀ G_P K_b,   G_P[n1, n2] = Σ_{i in window} X[i+n1-N+1]·X[i+n2-N+1]

   (X zero outside ``[0, M-1]``), with ``G_P`` computed once per episode
   (:func:`theory.batched.feature_gram_stack`). For full padding ``G`` is the symmetric Toeplitz matrix of
   the autocorrelation, ``G[n1, n2] = r[n2-n1]``, ``r = X ⋆ X`` (:func:`theory.batched.autocorrelation`):
   this is the paper's identity ``<F1, F2> = <K1 ⋆ K2, (X ⋆ X)_{[1-N, N-1]}>`` (eq. 3).
2. **Lag structure as a small real DFT.** With ``L = 2N-1`` (no wrap-around for lags in ``[1-N, N-1]``)
   and ``K̂(ω_k) = A_k + i·B_k = Σ_m K[m]·e^{-iω_k m}``, ``ω_k = 2πk/L``, ``k = 0..N-1``:

   * ``L_CS = Σ_n (K1 ⋆ K2)[n]² = (1/L) Σ_ω |K̂1|²·|K̂2|²`` (Parseval), and its exact gradient
     ``∂L_CS/∂K1[m] = 2 Σ_n C[n]·K2[m+n] = (2/L) Σ_ω |K̂2(ω)|²·Re(K̂1(ω)·e^{iωm})`` (K2 alike);
   * full padding: ``<F_a, F_b> = (1/L) Σ_ω R̂(ω)·Re(conj(K̂_a)·K̂_b)`` with ``R̂`` the (real) DFT of
     ``r`` on ``[1-N, N-1]`` — so the CS tables' similarity costs a few elementwise products per step.

   Sums over all ``L`` frequencies fold onto ``k = 0..N-1`` with weights ``w_0 = 1``, ``w_k = 2``. The DFT
   matrices are :func:`theory.batched.dft_operands` (proven by the registry's ``kernel_spectrum``).
3. **Episodes on the last, contiguous axis.** Kernels live in a ``(2, N, E)`` tensor, so every
   elementwise op runs over long contiguous rows and the DFTs are ``(2N × N) @ (N × E)`` GEMMs.
4. **Other paddings by blocks.** For one or two paddings other than full (Table 6) the kernels are
   copied into a block buffer and each block of steps becomes one ``(E, 2B, N) @ (E, N, N)`` batched
   GEMM per padding (:class:`_QuadRecorder`). For more (the padding sweep) the full-padding values come
   from the spectra and every padding subtracts its dropped edge outputs (eq. 17-19), obtained by one
   GEMM per block for all paddings (:class:`_EdgeRecorder`). Paddings cost no extra optimisation steps.
5. **Closed-form gradients, fused Adam.** No autograd; Adam is ``torch._fused_adam_`` — the kernel
   behind ``torch.optim.Adam(fused=True)`` (:mod:`experiments.common.optim`) — with the defaults (betas
   (0.9, 0.999), eps 1e-8, no weight decay, no amsgrad); SGD is ``p -= lr·g`` (no momentum).
   ``adam="python"`` selects an unfused hand-written Adam with the arithmetic of ``torch.optim.Adam``'s
   single-tensor path::

       m = lerp(m, g, 1-β1);  v = β2 v + (1-β2) g²;  p -= (lr/(1-β1^t)) · m / (sqrt(v)/sqrt(1-β2^t) + eps)

Objectives (``K1, K2`` the two kernels of an episode):

* ``kernel``: ``L = <K1, K2>²``; ``∂L/∂K1 = 2<K1,K2>·K2``, ``∂L/∂K2 = 2<K1,K2>·K1``.
* ``cs``: ``L = Σ_n C[n]²``, ``C[n] = (K1 ⋆ K2)[n] = Σ_m K1[m]·K2[m+n]``, gradient above.

Per-episode Adam on the batch equals independent Adams: the loss minimised is the SUM of the
per-episode losses, so the gradient with respect to episode e's kernels is episode e's own gradient,
and Adam's update of a coordinate reads only that coordinate's gradient history (m and v are per
coordinate; the step count t is the same for all). The test-suite checks it (a batch against the
same episodes run one at a time, and against ``torch.optim.Adam`` with ``foreach=False``).

Recorded per episode at ``t = 0..T`` (``t = 0`` before any step, ``t`` after ``t`` steps): the
objective and, per measured padding, ``(||F1||², <F1,F2>, ||F2||²)``; plus the kernels at ``t = 0, T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.common.optim import FusedAdam, PythonAdam, SGD, resolve_device
from theory import batched as B
from theory.padding import resolve_padding

from .spec import M, config_seed

__all__ = ["Draw", "draw_episodes", "draw_for_config", "Trajectories", "StoredTrajectories", "quadratic_forms",
           "run_batched"]


@dataclass
class Draw:
    """Initial kernels ``k`` (E, 2, N) ~ U(-1, 1) and inputs ``x`` (E, M) ~ U(0, 1), float64 NumPy."""

    k: np.ndarray
    x: np.ndarray


def draw_episodes(seed_seq: np.random.SeedSequence, episodes: int, n: int, m: int = M) -> Draw:
    """Draw the episodes of one configuration.

    Kernels and inputs come from two child streams of ``seed_seq``, each episode's values a contiguous
    block, so the first ``e`` episodes of a larger run are exactly a run with ``episodes = e``.
    Drawn in float64 NumPy whatever the run's dtype or device (the same draw everywhere).
    """
    sk, sx = seed_seq.spawn(2)
    k = np.random.default_rng(sk).uniform(-1.0, 1.0, size=(episodes, 2, n))
    x = np.random.default_rng(sx).uniform(0.0, 1.0, size=(episodes, m))
    return Draw(k=k, x=x)


def draw_for_config(seed: int, cfg, episodes: int) -> Draw:
    return draw_episodes(config_seed(seed, cfg.experiment, cfg.n, cfg.optimizer), episodes, cfg.n)


@dataclass
class Trajectories:
    """Output of a run (CPU tensors). ``quad[t, e, p]`` = ``(||F1||², <F1,F2>, ||F2||²)`` for padding p."""

    objective: torch.Tensor      # (T+1, E)
    quad: torch.Tensor           # (T+1, E, nP, 3)
    k0: torch.Tensor             # (E, 2, N)
    kT: torch.Tensor             # (E, 2, N)
    paddings: tuple

    def numpy(self) -> dict:
        return {"objective": self.objective.double().numpy(), "quad": self.quad.double().numpy(),
                "k0": self.k0.double().numpy(), "kT": self.kT.double().numpy()}


class _DFT:
    """The real DFT of length ``L = 2N-1`` as GEMM operands (see the module docstring, item 2), from
    :func:`theory.batched.dft_operands` (registered as ``kernel_spectrum``).

    ``fwd`` (2N, N): ``fwd @ K = [A; B]`` (K as columns). ``inv`` (N, 2N): ``inv @ [A·s; B·s]`` gives
    ``(2/L) Σ_{all ω} s(ω)·Re(K̂(ω)·e^{iωm})`` for a real even weight ``s``. ``wl`` (N,): ``w_k / L``.
    """

    def __init__(self, n: int, dtype, device):
        re, im, w, length = B.dft_operands((n,))                 # (N, N) each, w = 1, 2, 2, ...
        fwd = np.concatenate((re, im), axis=0)                    # (2N, N): cos, -sin
        inv = (2.0 / length) * np.concatenate((w[:, None] * re, w[:, None] * im), 0).T
        t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        self.n, self.length = n, length
        self.fwd, self.inv = t(fwd), t(inv)
        self.wl = t(w / length)                               # (N,)
        self.cos = t(re)                                      # (K, N) for R̂

    def spectrum_weights(self, r: torch.Tensor) -> torch.Tensor:
        """``(w_k / L)·R̂_k`` for autocorrelations ``r`` (E, N) on lags 0..N-1: ``(K, E)``.

        ``R̂_k = r[0] + 2 Σ_{j≥1} r[j] cos(ω_k j)`` (``r`` is even in the lag).
        """
        rr = r.T.clone()                                      # (N, E)
        rr[1:] *= 2.0
        return (self.cos @ rr) * self.wl[:, None]


class _Objective:
    """Value and closed-form gradient of an objective for kernels ``P`` (2, N, E) (module docstring)."""

    def __init__(self, name: str, dft: _DFT):
        if name not in ("kernel", "cs"):
            raise ValueError(f"objective: unknown {name!r}; expected 'kernel' or 'cs'")
        self.name = name
        self.dft = dft

    def __call__(self, p: torch.Tensor, out: torch.Tensor, ab: torch.Tensor | None = None,
                 pw: torch.Tensor | None = None) -> torch.Tensor:
        """Write the objective into ``out`` (E,), return the gradient (2, N, E).

        ``ab`` (the spectra ``[A; B]`` of ``p``, (2, 2N, E)) and ``pw`` (``|K̂_a|²``, (2, N, E)) may be
        passed when already computed (the full-padding path shares them); they are not modified.
        """
        if self.name == "kernel":
            d = (p[0] * p[1]).sum(0)                           # <K1, K2>  (E,)
            torch.mul(d, d, out=out)
            g = torch.empty_like(p)
            d2 = 2.0 * d
            torch.mul(p[1], d2, out=g[0])                      # g1 = 2d K2
            torch.mul(p[0], d2, out=g[1])                      # g2 = 2d K1
            return g
        n = self.dft.n
        if ab is None:
            ab = torch.matmul(self.dft.fwd, p)                # (2, 2N, E): [A; B] per kernel
        a4 = ab.view(2, 2, n, -1)                             # (kernel, A|B, K, E)
        if pw is None:
            sq = a4 * a4
            pw = sq[:, 0] + sq[:, 1]                          # |K̂_a|²  (2, K, E)
        torch.mv((pw[0] * pw[1]).T, self.dft.wl, out=out)     # (1/L) Σ_ω |K̂1|²|K̂2|²
        z = torch.empty_like(a4)
        torch.mul(a4[0], pw[1], out=z[0])                     # K̂1·|K̂2|²
        torch.mul(a4[1], pw[0], out=z[1])                     # K̂2·|K̂1|²
        return torch.matmul(self.dft.inv, z.view(2, 2 * n, -1))


class _FullQuads:
    """``(||F1||², <F1,F2>, ||F2||²)`` under full padding from the kernels' spectra (module docstring, 2).

    ``<F_a, F_b> = Σ_k wR_k · Re(conj(K̂_a) K̂_b)`` with ``wR = (w_k/L)·R̂_k`` per episode.
    """

    def __init__(self, wr: torch.Tensor, n: int):
        self.wr = wr                                          # (K, E)
        self.n = n
        self.q = torch.empty((3,) + tuple(wr.shape), dtype=wr.dtype, device=wr.device)   # (3, K, E)

    def __call__(self, ab: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Write into ``out`` (3, E); return ``|K̂_a|²`` (2, K, E) for the objective (a view, read-only)."""
        a4 = ab.view(2, 2, self.n, -1)
        sq = a4 * a4
        pw = self.q[0::2]                                     # rows 0 and 2: |K̂1|², |K̂2|²
        torch.add(sq[:, 0], sq[:, 1], out=pw)
        torch.mul(a4[0, 0], a4[1, 0], out=self.q[1])
        self.q[1].addcmul_(a4[0, 1], a4[1, 1])                # Re(conj(K̂1) K̂2)
        torch.sum(self.q * self.wr, 1, out=out)
        return pw


class _QuadRecorder:
    """Collects the kernels step by step and turns each block of steps into quadratic forms.

    Per block of ``b`` recorded steps: one batched GEMM ``(E, 2b, N) @ (E, N, N)`` per padding, then
    elementwise products; :meth:`flush` returns ``(b, E, nP, 3)`` = ``(||F1||², <F1,F2>, ||F2||²)``.
    """

    def __init__(self, g_mats: torch.Tensor, block: int):
        self.g = g_mats                                        # (E, nP, N, N)
        e, self.n_pad, n, _ = g_mats.shape
        kw = {"dtype": g_mats.dtype, "device": g_mats.device}
        self.block = max(1, block)
        self.kbuf = torch.empty((e, self.block, 2, n), **kw)
        self.kgbuf = torch.empty((e, self.block * 2, n), **kw)
        self.ones = torch.ones(n, **kw)
        self.fill = 0

    def add(self, k: torch.Tensor) -> None:
        """Record kernels ``k`` given as (E, 2, N) (any strides); at most ``block`` between flushes."""
        self.kbuf[:, self.fill] = k
        self.fill += 1

    def flush(self, out: torch.Tensor | None = None) -> torch.Tensor:
        """The recorded steps' rows (b, E, nP, 3), written into ``out`` when given (a view is fine)."""
        b = self.fill
        e, _, _, n = self.kbuf.shape
        k = self.kbuf[:, :b]                                   # (E, b, 2, N)
        kf = k.reshape(e, 2 * b, n)
        kg_out = self.kgbuf if b == self.block else torch.empty((e, 2 * b, n), dtype=k.dtype, device=k.device)
        rows = torch.empty((b, e, self.n_pad, 3), dtype=k.dtype, device=k.device) if out is None else out
        for j in range(self.n_pad):
            torch.bmm(kf, self.g[:, j], out=kg_out)
            kg = kg_out.view(e, b, 2, n)
            diag = (kg * k) @ self.ones                        # (E, b, 2): ||F1||², ||F2||²
            cross = (kg[:, :, 0] * k[:, :, 1]) @ self.ones     # (E, b): <F1, F2>
            rows[:, :, j, 0] = diag[:, :, 0].T
            rows[:, :, j, 1] = cross.T
            rows[:, :, j, 2] = diag[:, :, 1].T
        self.fill = 0
        return rows


class _EdgeRecorder:
    """Quadratic forms for many paddings at once: full padding minus the dropped edge outputs.

    A padding ``(left, right)`` drops the full-result outputs ``i < N-1-left`` and ``i > M-1+right``
    (CS eq. 17-19: the terms A and B), all among the ``2(N-1)`` edge outputs ``i ∈ [0, N-2]`` and
    ``[M, M+N-2]``. Per block of steps, one batched GEMM ``(E, 2B, N) @ (E, N, 2(N-1))`` gives the edge
    feature-map values; one GEMM of their products with the 0/1 matrix "padding p drops edge output j"
    gives A + B for every padding, subtracted from the full-padding values (computed in the loop from
    the spectra). Cost ~4N² + 6N·nP per episode and step (the Gram route costs 2N² per padding).
    """

    def __init__(self, x: torch.Tensor, n: int, paddings, block: int, chunk: int = 8):
        e, m = x.shape
        kw = {"dtype": x.dtype, "device": x.device}
        u = B.feature_patches(x[:, None, :], (n,), d=1)                      # (E, M+N-1, N), a view
        self.ut = torch.cat((u[:, :n - 1], u[:, m:m + n - 1]), 1).transpose(1, 2).contiguous()  # (E,N,2N-2)
        self.pads = [resolve_padding(q, (n,))[0] for q in paddings]
        self.n = n
        # drop[j, p] = 1 if padding p drops edge output j: left j = i < N-1-lo, right j = N-1+r, r >= hi.
        drop = np.zeros((2 * n - 2, len(self.pads)))
        for col, (lo, hi) in enumerate(self.pads):
            drop[: n - 1 - lo, col] = 1.0
            drop[n - 1 + hi:, col] = 1.0
        self.drop = torch.as_tensor(drop, **kw)
        self.block = max(1, block)
        self.chunk = chunk
        self.kbuf = torch.empty((e, self.block, 2, n), **kw)
        self.fill = 0

    def add(self, k: torch.Tensor | None) -> None:
        """Record kernels ``k`` (E, 2, N); at most ``block`` between flushes. ``None``: they are already in
        ``kbuf`` (shared with a :class:`_QuadRecorder` of the same block, which copied them)."""
        if k is not None:
            self.kbuf[:, self.fill] = k
        self.fill += 1

    def flush(self, full: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``full`` (b, 3, E): the full-padding values of the recorded steps; returns (b, E, nP, 3), written
        into ``out`` when given (a view is fine).

        Computed in chunks of ``chunk`` steps (bounds the (E, chunk, 3, 2N-2) temporary)."""
        b = self.fill
        e, _, _, n = self.kbuf.shape
        fq = full[:b].permute(2, 0, 1)                         # (E, b, 3)
        self.fill = 0
        rows = torch.empty((b, e, len(self.pads), 3), dtype=fq.dtype, device=fq.device) if out is None else out
        if n == 1:                                             # no edges: every padding is full
            rows.copy_(fq.transpose(0, 1)[:, :, None, :].expand(b, e, len(self.pads), 3))
            return rows
        for c in range(0, b, self.chunk):
            w = min(self.chunk, b - c)
            f = torch.bmm(self.kbuf[:, c:c + w].reshape(e, 2 * w, n), self.ut).view(e, w, 2, 2 * n - 2)
            f1, f2 = f[:, :, 0], f[:, :, 1]
            pr = torch.stack((f1 * f1, f1 * f2, f2 * f2), dim=2)               # (E, w, 3, 2N-2)
            dropped = (pr.view(-1, 2 * n - 2) @ self.drop).view(e, w, 3, -1)  # (E, w, 3, nP)
            rows[c:c + w] = (fq[:, c:c + w, :, None] - dropped).permute(1, 0, 3, 2)
        return rows


def quadratic_forms(traj: torch.Tensor, g_mats: torch.Tensor) -> torch.Tensor:
    """``(||F1||², <F1,F2>, ||F2||²)`` for kernels ``traj`` (E, S, 2, N) and ``g_mats`` (E, nP, N, N).

    Returns ``(S, E, nP, 3)``: the computation :func:`run_batched` does block by block.
    """
    steps = traj.shape[1]
    rec = _QuadRecorder(g_mats, min(48, steps))
    rows = []
    for s in range(steps):
        rec.add(traj[:, s])
        if rec.fill == rec.block or s == steps - 1:
            rows.append(rec.flush())
    return torch.cat(rows, 0)


class StoredTrajectories:
    """The default sink of :func:`run_batched`: keeps every recorded block, returns :class:`Trajectories`."""

    def __init__(self):
        self.obj, self.quad = [], []

    def add(self, objective: torch.Tensor, quad: torch.Tensor) -> None:
        """One block of steps: ``objective`` (b, E), ``quad`` (b, E, nP, 3); copied (buffers are reused)."""
        self.obj.append(objective.cpu().clone())
        self.quad.append(quad.cpu().clone())

    def finish(self, k0: torch.Tensor, kT: torch.Tensor, paddings: tuple) -> Trajectories:
        return Trajectories(objective=torch.cat(self.obj, 0), quad=torch.cat(self.quad, 0).contiguous(),
                            k0=k0.cpu().clone(), kT=kT.cpu().contiguous(), paddings=paddings)


def run_batched(k0: np.ndarray, x: np.ndarray, objective: str, optimizer: str, lr: float, iterations: int,
                paddings=("full",), dtype=torch.float64, device="cpu", progress=None,
                adam: str = "fused", gram_paddings: int | None = None, fixed_norm: bool = False, sink=None):
    """Optimise all episodes at once; ``k0`` (E, 2, N), ``x`` (E, M). See the module docstring.

    ``progress`` (optional) is called with the number of iterations done since its last call.
    ``adam``: ``"fused"`` (default) or ``"python"`` (see the module docstring).
    ``gram_paddings``: how many of the leading ``paddings`` to measure with Gram matrices; the rest go
    through "full minus edges". Default: full padding alone through the spectra, one or two paddings
    through Gram matrices, more through edges. The kernel trajectories never depend on this choice.
    ``fixed_norm``: after every optimiser step each kernel is rescaled to its initial Euclidean norm
    (projected gradient descent on the sphere of its starting norm): the objective can only be lowered by
    changing the kernels' directions, not by shrinking them.
    ``sink``: receives the recorded steps block by block, in order (``sink.add(objective (b, E), quad
    (b, E, nP, 3))``, buffers reused after the call) and returns the result (``sink.finish(k0, kT,
    paddings)``, kernels as (E, 2, N)). Default :class:`StoredTrajectories` (every step kept, returns
    :class:`Trajectories`); :class:`experiments.montecarlo.running.RunningStats` keeps only what the
    statistics need, so memory does not grow with ``iterations``.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: unknown {optimizer!r}; expected 'adam' or 'sgd'")
    if adam not in ("fused", "python"):
        raise ValueError(f"adam: expected 'fused' or 'python', got {adam!r}")
    dev = resolve_device(device) if isinstance(device, str) else device
    e, _, n = k0.shape
    paddings = tuple(paddings)
    is_full = [resolve_padding(q, (n,)) == ((n - 1, n - 1),) for q in paddings]
    if gram_paddings is None:
        gram_paddings = 0 if is_full == [True] else (len(paddings) if len(paddings) <= 2 else 0)
    if not 0 <= gram_paddings <= len(paddings):
        raise ValueError(f"gram_paddings: expected 0..{len(paddings)}, got {gram_paddings}")
    sink = StoredTrajectories() if sink is None else sink
    g_pads, e_pads = paddings[:gram_paddings], paddings[gram_paddings:]
    full_only = not g_pads and is_full == [True]
    with torch.inference_mode():
        k0_t = torch.as_tensor(k0, dtype=dtype, device=dev)
        p = k0_t.permute(1, 2, 0).contiguous()               # (2, N, E)
        xt = torch.as_tensor(x, dtype=dtype, device=dev)
        dft = _DFT(n, dtype, dev)
        fobj = _Objective(objective, dft)
        spectra = bool(e_pads)                                # full padding alone, or full minus edges
        edges = bool(e_pads) and not full_only
        block = min(48, iterations + 1)                       # steps per recorded block
        if spectra:
            r = B.autocorrelation(xt, n - 1, d=1)[:, n - 1:]     # (X ⋆ X)[j], j = 0..N-1
            fq = _FullQuads(dft.spectrum_weights(r), n)
            full_buf = torch.empty((block, 3, e), dtype=dtype, device=dev)
        grec = (_QuadRecorder(B.feature_gram_stack(xt[:, None, :], (n,), list(g_pads), d=1), block)
                if g_pads else None)
        erec = _EdgeRecorder(xt, n, e_pads, block) if edges else None
        if grec is not None and erec is not None:
            erec.kbuf = grec.kbuf                             # one copy of the kernels per step for both
        obj_buf = torch.empty((block, e), dtype=dtype, device=dev)
        # both recorders write into one buffer (no concatenation per block)
        both = (torch.empty((block, e, len(paddings), 3), dtype=dtype, device=dev)
                if grec is not None and erec is not None else None)

        def emit(b: int) -> None:
            if both is not None:
                grec.flush(both[:b, :, :gram_paddings])
                erec.flush(full_buf, both[:b, :, gram_paddings:])
                quad = both[:b]
            elif grec is not None:
                quad = grec.flush()
            elif full_only:
                quad = full_buf[:b].permute(0, 2, 1).unsqueeze(2)             # (b, E, 1, 3)
            else:
                quad = erec.flush(full_buf)
            sink.add(obj_buf[:b], quad)

        if optimizer == "adam":
            # torch._fused_adam_ is what torch.optim.Adam(fused=True) calls; fall back if a build lacks it.
            fused = adam == "fused" and hasattr(torch, "_fused_adam_")
            opt = (FusedAdam if fused else PythonAdam)(p, lr)
        else:
            opt = SGD(p, lr)
        # norms over the middle axis as sums of squares: torch.linalg.vector_norm takes ~20x longer there
        norm = lambda q: (q * q).sum(1, keepdim=True).sqrt_()            # noqa: E731  (2, 1, E)
        norms0 = norm(p) if fixed_norm else None
        chunk = max(1, iterations // 50)
        done = 0
        fill = 0
        for t in range(iterations + 1):
            if grec is not None:
                grec.add(p.permute(2, 0, 1))
            if spectra:
                ab = torch.matmul(dft.fwd, p)
                pw = fq(ab, full_buf[fill])
                if erec is not None:
                    erec.add(None if grec is not None else p.permute(2, 0, 1))
                grad = fobj(p, obj_buf[fill], ab, pw)
            else:
                grad = fobj(p, obj_buf[fill])
            fill += 1
            if fill == block or t == iterations:
                emit(fill)
                fill = 0
            if t == iterations:
                break
            opt.step(p, grad)
            if norms0 is not None:
                p.mul_(norms0 / norm(p))
            if progress is not None and (t + 1) % chunk == 0:
                progress(t + 1 - done)
                done = t + 1
        if progress is not None and iterations > done:
            progress(iterations - done)
        return sink.finish(k0_t, p.permute(2, 0, 1), paddings)
