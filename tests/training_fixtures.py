"""Writers of small data sets in the exact on-disk formats the training loaders read, and what a test checks a
command left in a temporary directory (tests only)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding: magic 0 0 0x08 ndim, big-endian int32 dims, uint8 data."""
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


def write_fashion_mnist(root, n_train_per_class=6, n_test_per_class=3, *, classes=10, seed=0, gz=True):
    """Fashion-MNIST-style IDX files; labels cycle 0..classes-1 so every class has the requested count.

    Image ``i`` of a split is filled with a class-dependent pattern plus noise; returns the arrays.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, per, stems in (("train", n_train_per_class, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")),
                              ("test", n_test_per_class, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))):
        n = per * classes
        labels = np.arange(n) % classes
        base = np.zeros((classes, 28, 28), dtype=np.float64)
        for c in range(classes):
            base[c, 2 + 2 * c: 6 + 2 * c, :] = 200.0           # a class-specific horizontal band
        images = np.clip(base[labels] + rng.normal(0, 30, (n, 28, 28)), 0, 255).astype(np.uint8)
        for stem, arr in ((stems[0], images), (stems[1], labels.astype(np.uint8))):
            data = idx_bytes(arr)
            if gz:
                (root / (stem + ".gz")).write_bytes(gzip.compress(data))
            else:
                (root / stem).write_bytes(data)
        out[split] = (images, labels)
    return out


def write_cifar10(root, n_per_batch=4, *, seed=0):
    """CIFAR-10 python layout: data_batch_1..5, test_batch (dicts with b'data' (N, 3072), b'labels'),
    batches.meta. Returns (train_x, train_y, test_x, test_y) as (N, 3, 32, 32) / (N,) arrays."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(1, 7):
        x = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        name = f"data_batch_{i}" if i <= 5 else "test_batch"
        with open(root / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": y, b"data": x,
                         b"filenames": [f"{name}_{k}.png".encode() for k in range(n_per_batch)]}, fh)
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(y))
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"class{k}".encode() for k in range(10)], b"num_vis": 3072}, fh)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


def write_cifar100(root, n_train=6, n_test=3, *, seed=0):
    """CIFAR-100 python layout: train/test with b'fine_labels' and b'coarse_labels', plus meta."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        coarse = [f // 5 for f in fine]
        with open(root / split, "wb") as fh:
            pickle.dump({b"filenames": [b"x.png"] * n, b"fine_labels": fine, b"coarse_labels": coarse,
                         b"data": x}, fh)
        out[split] = (x.reshape(-1, 3, 32, 32), np.asarray(fine))
    with open(root / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [f"f{k}".encode() for k in range(100)],
                     b"coarse_label_names": [f"c{k}".encode() for k in range(20)]}, fh)
    return out


def write_tiny_imagenet(root, wnids=("n01443537", "n01629819", "n01641577"), n_train=2, size=64):
    """Tiny ImageNet layout: wnids.txt, train/<wnid>/images/<wnid>_<k>.JPEG (+ a PNG in the first class),
    val/images/val_<k>.JPEG and val/val_annotations.txt. Returns {split: [(path, class index, array)]}."""
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    out = {"train": [], "test": []}
    for c, w in enumerate(wnids):
        d = root / "train" / w / "images"
        d.mkdir(parents=True, exist_ok=True)
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
        for k in range(n_train):
            arr = np.full((size, size, 3), 40 * c + 20 * k, dtype=np.uint8)    # flat colour: survives JPEG
            ext = "PNG" if (c == 0 and k == 0) else "JPEG"
            p = d / f"{w}_{k}.{ext}"
            Image.fromarray(arr).save(p, format="PNG" if ext == "PNG" else "JPEG", quality=95)
            out["train"].append((p, c, arr))
    (root / "val" / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for k, c in enumerate([2, 0, 1, 2]):
        arr = np.full((size, size, 3), 30 + 50 * c, dtype=np.uint8)
        p = root / "val" / "images" / f"val_{k}.JPEG"
        Image.fromarray(arr).convert("L").save(p, format="JPEG", quality=95) if k == 1 else \
            Image.fromarray(arr).save(p, format="JPEG", quality=95)
        lines.append(f"val_{k}.JPEG\t{wnids[c]}\t0\t0\t{size - 1}\t{size - 1}")
        out["test"].append((p, c, arr))
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return out


def temp_entries(tmp) -> list[str]:
    """Names in a temporary directory, less torch's own cache directory (``torchinductor_<user>``): what a
    command under test left there."""
    return sorted(q.name for q in Path(tmp).iterdir() if not q.name.startswith("torchinductor_"))
