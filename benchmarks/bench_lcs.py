"""Benchmark: L_CS + gradient, fast (Gram / FFT) versus the direct pairwise route.

Prints, in one run, forward+backward time per layer for the CS paper's CNN1/CNN2 (Table 4) and for every
conv layer of a CIFAR ResNet18, the direct route measured where its (S·C)² pair tensor fits in
``--direct-budget-mb`` and extrapolated beyond as (S·C)² from the largest measured layer of the same
kernel size, and the ratios. Usage: ``python benchmarks/bench_lcs.py [--repeats 5] [--threads 2]``.

Everything runs first with glibc's default allocator settings; the ResNet18 whole-model figure is then
measured again after :func:`experiments.training.engine.tune_malloc` (what the training engine applies:
large freed blocks stay in the heap instead of being unmapped and page-faulted afresh each step), in the
same process, and both are set against the floor.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from tabulate import tabulate

from theory import batched as B

CNN1 = [("conv1", 64, 3), ("conv2", 64, 64), ("conv3", 64, 64), ("conv4", 64, 64)]
CNN2 = [("conv1", 128, 3), ("conv2", 128, 128), ("conv3", 128, 128), ("conv4", 128, 128)]


def resnet18_layers():
    """(name, S, C, k) of every conv of ResNet18 with the CIFAR stem (3x3 stride 1, no max-pool)."""
    out = [("stem", 64, 3, 3)]
    c_in = 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            out.append((f"layer{stage}.{block}.conv1", width, c_in, 3))
            out.append((f"layer{stage}.{block}.conv2", width, width, 3))
            if block == 0 and c_in != width:
                out.append((f"layer{stage}.0.shortcut", width, c_in, 1))
            c_in = width
    return out


def timed(fn, repeats):
    fn()                                          # warm-up (lag tables, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fwd_bwd(route, shapes, repeats, dtype):
    ws = [torch.randn(s, c, k, k, dtype=dtype, requires_grad=True) for s, c, k in shapes]

    def step():
        total = sum(route(w) for w in ws)
        total.backward()
        for w in ws:
            w.grad = None
    return timed(step, repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--direct-budget-mb", type=float, default=400.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    gram = lambda w: B.conv_similarity_fast(w, d=2, method="gram")   # noqa: E731
    fft = lambda w: B.conv_similarity_fast(w, d=2, method="fft")     # noqa: E731
    direct = lambda w: B.conv_similarity(w, d=2)                      # noqa: E731
    print(f"# L_CS forward+backward, {args.dtype}, {args.threads} threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, median of {args.repeats}")

    rows, measured = [], {}
    layers = [("CNN1." + n, s, c, 3) for n, s, c in CNN1] + [("CNN2." + n, s, c, 3) for n, s, c in CNN2] \
        + [("ResNet18." + n, s, c, k) for n, s, c, k in resnet18_layers()]
    # Direct route first on the layers that fit, smallest first, to extrapolate the others.
    calibration = [("calibration", 32, 32, k) for k in sorted({r[3] for r in layers})]
    for name, s, c, k in sorted(layers + calibration, key=lambda r: r[1] * r[2]):
        pair_mb = (s * c) ** 2 * (2 * k - 1) ** 2 * (4 if dtype == torch.float32 else 8) / 2 ** 20
        if pair_mb * 3 <= args.direct_budget_mb:
            measured[(s, c, k)] = fwd_bwd(direct, [(s, c, k)], max(1, args.repeats // 2), dtype)
    for name, s, c, k in layers:
        t_gram = fwd_bwd(gram, [(s, c, k)], args.repeats, dtype)
        t_fft = fwd_bwd(fft, [(s, c, k)], args.repeats, dtype)
        if (s, c, k) in measured:
            t_dir, how = measured[(s, c, k)], "measured"
        else:
            ref = max((key for key in measured if key[2] == k), key=lambda key: key[0] * key[1])
            t_dir, how = measured[ref] * ((s * c) / (ref[0] * ref[1])) ** 2, f"extrapolated from {ref[0]}x{ref[1]}"
        rows.append([name, f"{s}x{c}x{k}x{k}", f"{t_gram * 1e3:.3f}", f"{t_fft * 1e3:.3f}", f"{t_dir * 1e3:.1f}",
                     how, f"{t_dir / min(t_gram, t_fft):.0f}x"])
    print(tabulate(rows, headers=["layer", "S x C x k x k", "gram ms", "fft ms", "direct ms", "direct is",
                                  "direct / fast"], tablefmt="github"))

    for model, sel in (("CNN1", "CNN1."), ("CNN2", "CNN2."), ("ResNet18", "ResNet18.")):
        shapes = [(s, c, k) for n, s, c, k in layers if n.startswith(sel)]
        t_g = fwd_bwd(gram, shapes, args.repeats, dtype)
        t_f = fwd_bwd(fft, shapes, args.repeats, dtype)
        print(f"{model:9s} whole-model L_CS + gradient: gram {t_g * 1e3:.2f} ms, fft {t_f * 1e3:.2f} ms "
              f"({sum(s * c * k * k for s, c, k in shapes):,} conv weights)")
        if model == "ResNet18":
            from experiments.training.engine import tune_malloc

            tuned = tune_malloc()
            t_tuned = fwd_bwd(gram, shapes, args.repeats, dtype)
            print(f"ResNet18  whole-model L_CS + gradient, gram, after tune_malloc() (the training engine's "
                  f"allocator setting, in effect: {tuned}): {t_tuned * 1e3:.2f} ms ({t_g / t_tuned:.2f}x faster)")
            bound_lines(shapes, {"default allocator": t_g, "tune_malloc": t_tuned}, dtype)


def bound_lines(shapes, t_gram: dict, dtype) -> None:
    """The Gram route against a floor measured in the same run: its counted FLOPs at this machine's GEMM
    rate (``torch.mm`` 2048², median of 5) and the bytes it must move (weights read twice, gradient written
    once) at this machine's copy bandwidth (a 256 MB copy into touched memory, median of 5); floor = the larger of the two."""
    from torch.utils.flop_counter import FlopCounterMode

    ws = [torch.randn(s, c, k, k, dtype=dtype, requires_grad=True) for s, c, k in shapes]
    with FlopCounterMode(display=False) as fc:
        sum(B.conv_similarity_fast(w, d=2) for w in ws).backward()
    flops = fc.get_total_flops()
    a = torch.randn(2048, 2048, dtype=dtype)
    gemm = 2 * 2048 ** 3 / timed(lambda: a @ a, 5)
    big = torch.empty(256 * 2 ** 20 // a.element_size(), dtype=dtype).normal_()
    dst = torch.empty_like(big).zero_()                              # touched: no page faults in the timing
    bw = 2 * big.nbytes / timed(lambda: dst.copy_(big), 5)           # read + write
    moved = 3 * sum(w.numel() for w in ws) * a.element_size()
    t_flop, t_mem = flops / gemm, moved / bw
    floor = max(t_flop, t_mem)
    print(f"ResNet18  counted work: {flops / 1e6:.0f} MFLOP (torch.utils.flop_counter) at the measured GEMM rate "
          f"{gemm / 1e9:.0f} GFLOP/s = {t_flop * 1e3:.2f} ms; {moved / 1e6:.0f} MB moved at the measured copy "
          f"bandwidth {bw / 1e9:.1f} GB/s = {t_mem * 1e3:.2f} ms")
    for how, t in t_gram.items():
        print(f"ResNet18  Gram route ({how}) {t * 1e3:.2f} ms = {t / floor:.2f}x the floor {floor * 1e3:.2f} ms "
              f"(target: <= 3x)")


if __name__ == "__main__":
    main()
