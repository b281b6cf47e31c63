"""Image data sets held in memory as one uint8 tensor, subsets, batched augmentation, a tensor loader.

Formats read (no downloads, ever):

* **Fashion-MNIST**: the four IDX files (``train-images-idx3-ubyte.gz`` ...; plain or gzip) as Debian's
  ``dataset-fashion-mnist`` installs them under ``/usr/share/datasets/fashion-mnist``. The directory is
  ``root`` if given, else ``$FASHION_MNIST_DIR``, else the Debian path.
* **CIFAR-10 / CIFAR-100**: the "python version" pickles (``data_batch_1..5`` + ``test_batch`` with
  ``b'data'`` (N, 3072) uint8 and ``b'labels'``; CIFAR-100 ``train``/``test`` with ``b'fine_labels'``),
  in ``root`` or in its ``cifar-10-batches-py`` / ``cifar-100-python`` sub-directory.
* **Tiny ImageNet**: ``train/<wnid>/images/*.JPEG`` and ``val/images`` + ``val/val_annotations.txt``
  (the "test" split here is the labelled validation set); classes from ``wnids.txt`` if present, else the
  sorted ``train/`` sub-directories. Decoded with PIL, converted to RGB.

Everything is an :class:`ImageData`: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``.
:class:`TensorLoader` batches it by a seeded index permutation; the papers' augmentation (4-pixel zero
pad, random crop back to size, horizontal flip; MFD/POD papers and the usual CIFAR recipe) runs on the
uint8 batch as tensor ops, drawn from the loader's generator, and only on loaders built with
``augment=True`` (never on the test split).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["ImageData", "FASHION_MNIST_DIR", "load_fashion_mnist", "load_cifar10", "load_cifar100",
           "load_tiny_imagenet", "load_dataset", "DATASETS", "read_idx", "subset_per_class",
           "augment_batch", "TensorLoader"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


@dataclass
class ImageData:
    """One split held in memory: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str = ""
    classes: tuple = field(default_factory=tuple)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images: expected uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.ndim != 1 or self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(f"labels: expected ({self.images.shape[0]},), got {tuple(self.labels.shape)}")
        self.labels = self.labels.to(torch.int64)

    def __len__(self):
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple:
        """Per-image shape ``(C, H, W)``."""
        return tuple(self.images.shape[1:])

    def subset(self, indices) -> "ImageData":
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return ImageData(self.images[idx].contiguous(), self.labels[idx].contiguous(), self.num_classes,
                         self.name, self.classes)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and (population) std of the pixel values scaled to [0, 1], from exact integer sums."""
        c = self.images.shape[1]
        x = self.images.transpose(0, 1).reshape(c, -1).to(torch.int64)
        n = x.shape[1]
        s1, s2 = x.sum(1).tolist(), (x * x).sum(1).tolist()
        mean = [a / n / 255.0 for a in s1]
        std = [math.sqrt(max(b * n - a * a, 0) / (n * n)) / 255.0 for a, b in zip(s1, s2)]
        return mean, std


# ----------------------------------------------------------------------------------------------- IDX

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_maybe_gz(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip or plain): magic ``0 0 <type> <ndim>``, big-endian int32 sizes, data."""
    path = Path(path)
    with _open_maybe_gz(path) as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4]!r})")
    kind, ndim = raw[2], raw[3]
    if kind not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type 0x{kind:02x}")
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_DTYPES[kind])
    count = int(np.prod(dims)) if ndim else 1
    offset = 4 + 4 * ndim
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"{path}: IDX header says {tuple(dims)} ({count * dtype.itemsize} bytes), "
                         f"file holds {len(raw) - offset} bytes of data")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(tuple(dims)).copy()


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def load_fashion_mnist(root=None, split: str = "train") -> ImageData:
    """Fashion-MNIST ``split`` ('train' 60k or 'test' 10k) as 1x28x28 uint8.

    ``root``: directory of the IDX files; default ``$FASHION_MNIST_DIR`` or ``/usr/share/datasets/fashion-mnist``.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    directory = Path(root or os.environ.get("FASHION_MNIST_DIR") or FASHION_MNIST_DIR)
    img_stem, lab_stem = FASHION_MNIST_FILES[split]
    img_path, lab_path = _find(directory, img_stem), _find(directory, lab_stem)
    if img_path is None or lab_path is None:
        missing = [s for s, p in ((img_stem, img_path), (lab_stem, lab_path)) if p is None]
        raise FileNotFoundError(
            f"Fashion-MNIST {split} split not found in {directory} (missing {', '.join(m + '[.gz]' for m in missing)}). "
            "Install the real files with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; puts them "
            f"under {FASHION_MNIST_DIR}), or point --data-root / $FASHION_MNIST_DIR at a directory holding the "
            "four IDX files.")
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{img_path}: expected uint8 (N, 28, 28) images, got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{lab_path}: {labels.shape[0] if labels.ndim else 0} labels for {images.shape[0]} images")
    return ImageData(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), 10,
                     f"fashion-mnist/{split}", FASHION_MNIST_CLASSES)


# --------------------------------------------------------------------------------------------- CIFAR

def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


def _cifar_dir(root, sub: str, probe: str) -> Path:
    if root is None:
        raise ValueError("root: CIFAR is not installed here; pass the directory of the python-pickle files")
    root = Path(root)
    for d in (root, root / sub):
        if (d / probe).is_file():
            return d
    raise FileNotFoundError(f"{root}: no {probe} there or in {root / sub}; expected the CIFAR 'python version' "
                            f"layout (https://www.cs.toronto.edu/~kriz/cifar.html)")


def _cifar_arrays(batches, label_key: bytes, what: str):
    data, labels = [], []
    for path in batches:
        d = _unpickle(path)
        if b"data" not in d or label_key not in d:
            raise ValueError(f"{path}: expected keys b'data' and {label_key!r}, got {sorted(d)}")
        x = np.asarray(d[b"data"], dtype=np.uint8)
        if x.ndim != 2 or x.shape[1] != 3072:
            raise ValueError(f"{path}: b'data' should be (N, 3072) uint8, got {x.shape}")
        data.append(x)
        labels.append(np.asarray(d[label_key], dtype=np.int64))
    x = np.concatenate(data).reshape(-1, 3, 32, 32)
    y = np.concatenate(labels)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{what}: {y.shape[0]} labels for {x.shape[0]} images")
    return torch.from_numpy(x), torch.from_numpy(y)


def load_cifar10(root, split: str = "train") -> ImageData:
    """CIFAR-10 from ``root`` (or ``root/cifar-10-batches-py``): 'train' = data_batch_1..5, 'test' = test_batch."""
    d = _cifar_dir(root, "cifar-10-batches-py", "test_batch")
    if split == "train":
        files = [d / f"data_batch_{i}" for i in range(1, 6)]
    elif split == "test":
        files = [d / "test_batch"]
    else:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: missing CIFAR-10 batch file")
    x, y = _cifar_arrays(files, b"labels", f"cifar10/{split}")
    classes = ()
    if (d / "batches.meta").is_file():
        classes = tuple(n.decode() for n in _unpickle(d / "batches.meta").get(b"label_names", []))
    return ImageData(x, y, 10, f"cifar10/{split}", classes)


def load_cifar100(root, split: str = "train") -> ImageData:
    """CIFAR-100 (fine labels) from ``root`` (or ``root/cifar-100-python``): files ``train`` / ``test``."""
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    d = _cifar_dir(root, "cifar-100-python", split)
    x, y = _cifar_arrays([d / split], b"fine_labels", f"cifar100/{split}")
    classes = ()
    if (d / "meta").is_file():
        classes = tuple(n.decode() for n in _unpickle(d / "meta").get(b"fine_label_names", []))
    return ImageData(x, y, 100, f"cifar100/{split}", classes)


# -------------------------------------------------------------------------------------- Tiny ImageNet

_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def _read_image(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def load_tiny_imagenet(root, split: str = "train", *, image_size: int | None = 64) -> ImageData:
    """Tiny ImageNet (ImageFolder layout) from ``root``; 'test' reads the labelled ``val/`` split.

    Images not ``image_size`` square are resized (bilinear); ``image_size=None`` requires equal sizes.
    """
    if root is None:
        raise ValueError("root: Tiny ImageNet is not installed here; pass the directory holding train/ and val/")
    root = Path(root)
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if (root / "wnids.txt").is_file():
        wnids = [w.strip() for w in (root / "wnids.txt").read_text().split() if w.strip()]
    elif (root / "train").is_dir():
        wnids = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    else:
        raise FileNotFoundError(f"{root}: neither wnids.txt nor train/ found (Tiny ImageNet layout)")
    index = {w: i for i, w in enumerate(wnids)}
    items: list[tuple[Path, int]] = []
    if split == "train":
        for w in wnids:
            folder = root / "train" / w / "images"
            if not folder.is_dir():
                folder = root / "train" / w
            items += [(p, index[w]) for p in sorted(folder.iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES]
    else:
        ann = root / "val" / "val_annotations.txt"
        if not ann.is_file():
            raise FileNotFoundError(f"{ann}: missing (Tiny ImageNet val labels: 'file<TAB>wnid<TAB>bbox')")
        for line in ann.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            if parts[1] not in index:
                raise ValueError(f"{ann}: unknown class {parts[1]!r} for {parts[0]!r}")
            items.append((root / "val" / "images" / parts[0], index[parts[1]]))
    if not items:
        raise FileNotFoundError(f"{root}: no images found for split {split!r}")
    arrays = [_read_image(p, image_size) for p, _ in items]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"{root}: images of different sizes {sorted(shapes)}; pass image_size")
    x = torch.from_numpy(np.stack(arrays))
    y = torch.tensor([c for _, c in items], dtype=torch.int64)
    return ImageData(x, y, len(wnids), f"tiny-imagenet/{split}", tuple(wnids))


DATASETS = {
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "tiny-imagenet": load_tiny_imagenet,
}


def load_dataset(name: str, split: str, root=None) -> ImageData:
    """Dispatch on ``name`` (one of :data:`DATASETS`)."""
    if name not in DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](root, split)


# -------------------------------------------------------------------------------------------- subsets

def subset_per_class(labels, n: int, *, seed: int | None = None, num_classes: int | None = None) -> torch.Tensor:
    """Indices (sorted) of ``n`` examples per class: the first ``n`` in file order, or with ``seed`` a seeded
    random choice. A class with fewer than ``n`` examples is a ValueError."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if n < 1:
        raise ValueError(f"n: expected >= 1 per class, got {n}")
    k = int(num_classes if num_classes is not None else int(labels.max()) + 1)
    g = None
    if seed is not None:
        g = torch.Generator().manual_seed(int(seed))
    chosen = []
    for c in range(k):
        idx = torch.nonzero(labels == c).flatten()
        if idx.numel() < n:
            raise ValueError(f"n: class {c} has {idx.numel()} examples, fewer than {n}")
        if g is not None:
            idx = idx[torch.randperm(idx.numel(), generator=g)]
        chosen.append(idx[:n])
    return torch.sort(torch.cat(chosen)).values


# ------------------------------------------------------------------------------------- augmentation

def augment_batch(x: torch.Tensor, generator: torch.Generator, *, pad: int = 4, flip: bool = True,
                  memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Random crop after ``pad`` zero pixels each side, then horizontal flip with probability ½.

    ``x``: ``(B, C, H, W)`` (uint8 pixels, so the pad is black as in torchvision's ``RandomCrop(padding=4)``).
    Offsets and flips are drawn from ``generator`` in a fixed order (offsets y, offsets x, flips), so a
    generator state determines the output. ``memory_format``: the layout of the result (the gather makes
    it channels-last, so ``torch.channels_last`` costs no copy); the values do not depend on it.
    """
    b, _, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    fl = torch.rand(b, generator=generator) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    if pad:
        xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        rows = (dy[:, None] + torch.arange(h))[:, :, None]                 # (B, H, 1)
        cols = dx[:, None] + torch.arange(w)                               # (B, W)
        cols = torch.where(fl[:, None], cols.flip(1), cols)[:, None, :]    # flip folded into the gather
        bi = torch.arange(b)[:, None, None]
        out = xp[bi, :, rows, cols].permute(0, 3, 1, 2)                   # (B, H, W, C) -> (B, C, H, W)
        return out.contiguous(memory_format=memory_format)
    return torch.where(fl[:, None, None, None], x.flip(-1), x).contiguous(memory_format=memory_format)


# ---------------------------------------------------------------------------------------- the loader

class TensorLoader:
    """Batches of an in-memory :class:`ImageData`, normalised to float ``(x/255 - mean)/std``.

    ``shuffle``: a new permutation each pass from a ``torch.Generator`` seeded with ``seed`` (its state is in
    :meth:`state_dict`, so a resumed run draws the same order). ``augment``: :func:`augment_batch` on each
    batch from the same generator. ``drop_last=False`` keeps the short last batch (the CS paper's 98
    iterations per epoch for 50,000 images at batch 512). ``shard=(rank, world)`` keeps every world-th
    index of the permutation (the DistributedSampler rule, padded to equal length) — untested, see
    :mod:`experiments.training.distributed`.
    ``memory_format``: the layout of the batches (``torch.channels_last``: NHWC, what a channels-last model
    reads without a copy); the uint8 images are converted to it once, here, not per batch (a no-op for one
    channel, where both layouts coincide). The batch values do not depend on it.
    """

    def __init__(self, data: ImageData, batch_size: int, *, shuffle: bool = False, augment: bool = False,
                 seed: int = 0, mean=None, std=None, dtype=torch.float32, device="cpu",
                 drop_last: bool = False, shard: tuple[int, int] = (0, 1),
                 memory_format: torch.memory_format = torch.contiguous_format):
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        self.data, self.batch_size = data, int(batch_size)
        self.shuffle, self.augment, self.drop_last = bool(shuffle), bool(augment), bool(drop_last)
        self.generator = torch.Generator().manual_seed(int(seed))
        c = data.images.shape[1]
        mean = [0.0] * c if mean is None else list(mean)
        std = [1.0] * c if std is None else list(std)
        self.mean = torch.tensor(mean, dtype=dtype).reshape(1, c, 1, 1)
        self.std = torch.tensor([s if s > 0 else 1.0 for s in std], dtype=dtype).reshape(1, c, 1, 1)
        self.dtype, self.device = dtype, torch.device(device)
        self.rank, self.world = int(shard[0]), int(shard[1])
        self.memory_format = memory_format
        self.images = data.images.contiguous(memory_format=memory_format)   # once (no copy if already so)

    def _order(self) -> torch.Tensor:
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        if self.world > 1:
            per = -(-n // self.world)
            order = torch.cat([order, order[: per * self.world - n]])[self.rank::self.world]
        return order

    def __len__(self):
        n = len(self.data)
        if self.world > 1:
            n = -(-n // self.world)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        order = self._order()
        n = order.numel()
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self.images[idx]                      # keeps the layout of self.images
            if self.augment:
                x = augment_batch(x, self.generator, memory_format=self.memory_format)
            x = (x.to(self.dtype).div_(255.0) - self.mean) / self.std
            y = self.data.labels[idx]
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
