"""Inputs of the 2-D Monte Carlo: U(0, 1) noise and real images, drawn per episode, seeded.

Input kinds (``INPUT_KINDS``), each an ``(E, C, H, W)`` float64 array:

* ``uniform``: ``X ~ U(0, 1)`` i.i.d. per pixel and channel (the CS paper's Section 3.1 input, in 2-D);
* ``image``: real images scaled to ``[0, 1]`` (``uint8 / 255``): for ``C = 1`` a random Fashion-MNIST
  training image (whole 28×28; read by :func:`experiments.training.data.load_fashion_mnist` from the
  Debian package ``dataset-fashion-mnist``), for ``C = 3`` a random ``32×32`` patch (uniform image
  choice, uniform top-left corner) of one of scikit-image's bundled photographs ``astronaut``,
  ``coffee``, ``chelsea`` (shipped inside the wheel; nothing is downloaded), constant patches redrawn;
* ``image_std``: the same images, standardised per channel with the mean and std of the whole source
  (Fashion-MNIST training set; the three photographs' pixels), as a CNN's input normalisation does.

``uniform`` inputs have the shape of the ``image`` inputs of the same ``C`` (28×28 for ``C = 1``,
32×32 for ``C = 3``). Every draw is made in float64 NumPy from a ``numpy.random.SeedSequence``; each
episode's values are one contiguous block of the generator's stream, so the first ``e`` episodes of a
larger draw equal a draw of ``e`` episodes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

INPUT_KINDS = ("uniform", "image", "image_std")
RGB_IMAGES = ("astronaut", "coffee", "chelsea")
GREY_SIZE = 28          #: Fashion-MNIST images are used whole
RGB_PATCH = 32          #: side of the RGB patches
CHANNELS = (1, 3)
MAX_REDRAWS = 1000      #: attempts per episode to find a non-constant RGB patch


def input_hw(c: int) -> tuple[int, int]:
    """Spatial size of the inputs with ``c`` channels."""
    _check_channels(c)
    return (GREY_SIZE, GREY_SIZE) if c == 1 else (RGB_PATCH, RGB_PATCH)


def _check_channels(c):
    if c not in CHANNELS:
        raise ValueError(f"channels: expected 1 (grey, Fashion-MNIST) or 3 (RGB photographs), got {c!r}")


@functools.lru_cache(maxsize=1)
def rgb_images() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as uint8 ``(3, H, W)`` arrays (``RGB_IMAGES`` order)."""
    try:
        import skimage.data
    except ImportError as exc:                                      # pragma: no cover - dependency
        raise ImportError("the RGB inputs need scikit-image (pip install scikit-image; its wheel ships the "
                          "sample photographs astronaut, coffee, chelsea)") from exc
    out = []
    for name in RGB_IMAGES:
        a = np.asarray(getattr(skimage.data, name)())
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise ValueError(f"skimage.data.{name}(): expected uint8 (H, W, 3), got {a.dtype} {a.shape}")
        out.append(np.ascontiguousarray(a.transpose(2, 0, 1)))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def fashion_mnist_images(root: str | None = None) -> np.ndarray:
    """The 60 000 Fashion-MNIST training images, uint8 ``(N, 28, 28)`` (``root``: IDX directory)."""
    from experiments.training.data import load_fashion_mnist
    return load_fashion_mnist(root, "train").images[:, 0].numpy()


@dataclass(frozen=True)
class Stats:
    """Per-channel mean and std (population) of a source, pixel values scaled to [0, 1]."""

    mean: tuple
    std: tuple


@functools.lru_cache(maxsize=8)
def source_stats(c: int, data_root: str | None = None) -> Stats:
    """Mean/std per channel of the whole image source of ``c`` channels (for ``image_std``)."""
    _check_channels(c)
    if c == 1:
        imgs = fashion_mnist_images(data_root)
        v = imgs.astype(np.float64).ravel() / 255.0
        return Stats((float(v.mean()),), (float(v.std()),))
    px = np.concatenate([im.reshape(3, -1) for im in rgb_images()], axis=1).astype(np.float64) / 255.0
    return Stats(tuple(float(m) for m in px.mean(1)), tuple(float(s) for s in px.std(1)))


def sample_uniform(rng: np.random.Generator, episodes: int, c: int, hw: tuple[int, int]) -> np.ndarray:
    """``(E, C, H, W)`` of U(0, 1)."""
    return rng.uniform(0.0, 1.0, size=(episodes, c, *hw))


def sample_fmnist(rng: np.random.Generator, episodes: int, images: np.ndarray) -> np.ndarray:
    """``(E, 1, 28, 28)``: random whole Fashion-MNIST images (with replacement), scaled to [0, 1]."""
    idx = rng.integers(0, images.shape[0], size=episodes)
    return images[idx][:, None].astype(np.float64) / 255.0


def sample_rgb_patches(rng: np.random.Generator, episodes: int, images, size: int = RGB_PATCH) -> np.ndarray:
    """``(E, 3, size, size)``: per episode a uniformly chosen image and top-left corner, scaled to [0, 1].

    A constant patch (e.g. the black border regions; about 1% of draws) is drawn again: on an all-zero
    input every feature map is zero and the cosines are undefined, and a constant patch says nothing
    about natural-image statistics.
    """
    out = np.empty((episodes, 3, size, size))
    for name, im in zip(RGB_IMAGES, images):
        if im.shape[1] < size or im.shape[2] < size:
            raise ValueError(f"{name}: image {im.shape[1:]} smaller than the patch size {size}")
    for e in range(episodes):          # (image, row, col) triples episode by episode: prefix-stable stream
        for _ in range(MAX_REDRAWS):
            which = int(rng.integers(0, len(images)))
            im = images[which]
            r = int(rng.integers(0, im.shape[1] - size + 1))
            col = int(rng.integers(0, im.shape[2] - size + 1))
            patch = im[:, r:r + size, col:col + size]
            if patch.min() != patch.max():
                break
        else:                                                       # pragma: no cover - needs flat images
            raise ValueError(f"no non-constant {size}x{size} patch found in {MAX_REDRAWS} draws")
        out[e] = patch
    return out / 255.0


def standardise(x: np.ndarray, stats: Stats) -> np.ndarray:
    """``(x - mean_c) / std_c`` per channel (axis 1)."""
    m = np.asarray(stats.mean)[None, :, None, None]
    s = np.asarray(stats.std)[None, :, None, None]
    return (x - m) / s


def child_seed(seed_seq: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """The ``i``-th child of ``seed_seq`` WITHOUT mutating it (``spawn`` counts earlier calls, so drawing
    twice from one SeedSequence object would otherwise give different inputs)."""
    return np.random.SeedSequence(entropy=seed_seq.entropy, spawn_key=tuple(seed_seq.spawn_key) + (int(i),),
                                  pool_size=seed_seq.pool_size)


def draw_inputs(seed_seq: np.random.SeedSequence, episodes: int, c: int, kinds=INPUT_KINDS,
                data_root: str | None = None) -> dict[str, np.ndarray]:
    """``{kind: (E, C, H, W)}`` for the requested kinds; ``image`` and ``image_std`` share their images.

    Two child streams of ``seed_seq`` (:func:`child_seed` 0 and 1): one for the noise, one for the choice of
    images/patches. ``seed_seq`` is not modified: the same SeedSequence always gives the same draw.
    """
    _check_channels(c)
    for k in kinds:
        if k not in INPUT_KINDS:
            raise ValueError(f"inputs: unknown kind {k!r}; expected some of {', '.join(INPUT_KINDS)}")
    s_noise, s_img = child_seed(seed_seq, 0), child_seed(seed_seq, 1)
    out = {}
    if "uniform" in kinds:
        out["uniform"] = sample_uniform(np.random.default_rng(s_noise), episodes, c, input_hw(c))
    if "image" in kinds or "image_std" in kinds:
        rng = np.random.default_rng(s_img)
        img = (sample_fmnist(rng, episodes, fashion_mnist_images(data_root)) if c == 1
               else sample_rgb_patches(rng, episodes, rgb_images()))
        if "image" in kinds:
            out["image"] = img
        if "image_std" in kinds:
            out["image_std"] = standardise(img, source_stats(c, data_root))
    return {k: out[k] for k in kinds}
