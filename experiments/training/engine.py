"""One training engine for every run: config dataclass, seeded data order, SGD/Adam + step LR, CPU/CUDA,
per-epoch metrics (JSON + CSV), atomic per-epoch checkpoints and bit-identical resume on CPU.

Files written in ``config.out_dir``:

``config.json``      the :class:`TrainConfig` (also inside every other file)
``metrics.json``     config, per-epoch history, per-step log, Algorithm-1 curve, summary; rewritten each epoch
``metrics.csv``      the per-epoch history as a table
``checkpoint.pt``    model, optimiser, scheduler, AMP scaler, RNG states (torch, CUDA, NumPy, Python, the
                     data-order generator), history; rewritten atomically after every epoch (and at epoch 0)
``result.json``      the final ``metrics.json`` (``status: done``); its presence marks the run complete

Every file is written to a temporary file and ``os.replace``-d, so a run killed at any instant (even
``kill -9`` during a write) leaves the previous complete version. ``resume=True`` loads ``checkpoint.pt`` and
continues; with ``deterministic=True`` on CPU the final weights and metrics equal those of an uninterrupted
run bit for bit (``tests/test_training_engine.py`` kills a run with SIGKILL and checks). Times differ.

Extra loss terms (MFD, POD): ``Trainer(config, extra_losses={'name': fn})`` with
``fn(model, outputs) -> scalar tensor`` added to the task loss each step; ``outputs`` is a dict with
``logits``, ``targets``, ``inputs`` and ``features`` (``name -> tensor`` of the sub-modules listed in
``config.capture``, e.g. ResNet18's ``stage0`` .. ``stage4``, captured by forward hooks with the graph kept).
Terms can also be registered by name (:func:`experiments.training.losses.register_extra_loss`) and listed in
``config.extra_losses`` so that the CLI and ``resume`` rebuild them from the config. CS Algorithm 2 is such a
term (``cs_beta``).

Multi-GPU / multi-process: :mod:`experiments.training.distributed` (torchrun + DDP; ``batch_size`` is the
global batch, BatchNorm synchronised, rank 0 writes; tested on CPU with gloo against one process).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import random
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from experiments.common.cli import CommandError, UsageError, check_int, check_number, flag_of, option
from experiments.common.io import torch_save_atomic, write_csv_atomic, write_json_atomic
from experiments.common.optim import resolve_device
from theory._validate import NonFiniteError
from theory.batched.fast_similarity import CS_METHODS

from . import distributed as dist_utils
from .data import DATASETS, ImageData, TensorLoader, load_dataset, subset_per_class
from .losses import EXTRA_LOSSES, CSRegularizer, conv_kernel_stats, cs_initialize, model_cs
from .losses import register_extra_loss  # noqa: F401  (re-exported: the engine's hook API)
from .losses import threads as cs_threads
from .models import MODELS, build_model, capture_stages, count_parameters

__all__ = ["TrainConfig", "Trainer", "train", "register_extra_loss", "EXTRA_LOSSES", "EPOCH_COLUMNS",
           "load_split", "RESUME_IGNORED", "tune_malloc", "seed_everything", "MEMORY_FORMATS", "PRECISIONS",
           "LEGACY_DEFAULTS", "CS_INIT_OBJECTIVES", "CS_INIT_APPLY", "with_legacy_defaults", "float32_stems",
           "STEM_CHANNELS", "FILL_UNINITIALIZED_MEMORY", "CheckpointError", "CHECKPOINT_KEYS", "read_checkpoint",
           "resume_conflict"]

# Fields that may differ between a run and its resumption from a checkpoint (a longer run continues one).
RESUME_IGNORED = ("progress", "threads", "out_dir", "data_root", "epochs")

EPOCH_COLUMNS = ["epoch", "lr", "train_loss", "train_extra_loss", "train_acc", "test_loss", "test_acc",
                 "test_loss_recal", "test_acc_recal", "l_cs", "l_cs_normalized", "conv_kernel_norm",
                 "epoch_seconds", "wall_seconds"]

#: ``memory_format`` choices: ``channels_last`` (NHWC model and batches, the fast exact fp32 path, default) or
#: ``contiguous`` (NCHW: the engine's path before the field existed, bit-identical to it)
MEMORY_FORMATS = ("channels_last", "contiguous")
#: ``precision`` choices: ``fp32`` (default) or ``bf16`` (CPU/CUDA bfloat16 autocast of the network's forward)
PRECISIONS = ("fp32", "bf16")
#: the value a config saved before a field existed had in effect (results, checkpoints, run directories)
LEGACY_DEFAULTS = {"memory_format": "contiguous", "precision": "fp32", "bn_recal_batches": 0, "bn_recal_every": 1,
                   "cs_init_objective": "plain", "cs_init_apply": "full"}
#: ``cs_init_objective`` choices: Algorithm 1 on plain L_CS (eq. 10) or on its scale-invariant form
CS_INIT_OBJECTIVES = ("plain", "normalized")
#: ``cs_init_apply`` choices: what Algorithm 1 leaves in the network (see :class:`TrainConfig`)
CS_INIT_APPLY = ("full", "directions", "norms")


def with_legacy_defaults(config: dict) -> dict:
    """A saved config (dict) with the fields it predates filled in with what was then in effect.

    Examples
    --------
    >>> with_legacy_defaults({"lr": 0.1})["memory_format"], with_legacy_defaults({"precision": "bf16"})["precision"]
    ('contiguous', 'bf16')
    >>> with_legacy_defaults({"model": "cnn2"})["pool_first"], with_legacy_defaults({"model": "resnet18"})["pool_first"]
    (False, True)
    """
    d = {**LEGACY_DEFAULTS, **dict(config)}
    if "pool_first" not in config:       # CNN1 / CNN2 were trained in Table 4's order before the field
        d["pool_first"] = d.get("model", "cnn1") not in ("cnn1", "cnn2")
    return d



@dataclass
class TrainConfig:
    """Everything that determines a run (saved with its results); every field is a flag of
    ``python -m experiments training run``."""

    name: str = option("run", "run name (progress lines, plan listings)")
    out_dir: str = option("runs/training/run", "directory of the run: config, metrics, checkpoint, result")
    # data
    dataset: str = option("fashion-mnist", "data set", choices=tuple(DATASETS))
    data_root: typing.Optional[str] = option(None, "directory of the data files (none: $FASHION_MNIST_DIR or "
                                             "/usr/share/datasets/fashion-mnist for Fashion-MNIST)")
    train_per_class: typing.Optional[int] = option(None, "training images per class (none: the whole split)")
    test_per_class: typing.Optional[int] = option(None, "test images per class (none: the whole split)")
    subset_seed: typing.Optional[int] = option(None, "seed of the per-class subsets (none: the first n per "
                                               "class in file order)")
    augment: bool = option(False, "4-pixel zero pad + random crop + horizontal flip on training batches")
    normalize: bool = option(True, "per-channel mean/std of the full training split")
    # model
    model: str = option("cnn1", "network: CS paper Table 4 CNN1/CNN2, or ResNet18 with the CIFAR stem",
                        choices=MODELS)
    width: float = option(1.0, "channel width multiplier of the network (ResNet18 0.25: 16..128 channels; CNN1 0.5: 32)")
    # optimisation
    epochs: int = option(1, "training epochs")
    batch_size: int = option(512, "training batch size")
    eval_batch_size: int = option(1000, "test batch size")
    optimizer: str = option("sgd", "optimiser", choices=("sgd", "adam"))
    lr: float = option(0.01, "learning rate")
    momentum: float = option(0.0, "SGD momentum")
    nesterov: bool = option(False, "Nesterov momentum (SGD)")
    weight_decay: float = option(0.0, "L2 weight decay of the optimiser")
    lr_milestones: typing.List[int] = option(help="epochs after which lr *= lr_gamma", factory=list)
    lr_gamma: float = option(0.1, "factor of the learning rate at each milestone")
    # CS paper: Algorithm 1 (cs_init_iters Adam steps on L_CS before training) and 2 (+ cs_beta * L_CS)
    cs_init_iters: int = option(0, "CS Algorithm 1: Adam steps on L_CS before training (I)")
    cs_init_lr: float = option(1e-3, "CS Algorithm 1: Adam learning rate")
    cs_beta: float = option(0.0, "CS Algorithm 2: weight beta of L_CS added to the loss at every step")
    cs_method: str = option("gram", "how L_CS is computed (same value)", choices=CS_METHODS)
    cs_init_objective: str = option("plain", "CS Algorithm 1's objective: plain L_CS (eq. 10) or normalized "
                                    "(every kernel at unit norm: scale-invariant)", choices=CS_INIT_OBJECTIVES)
    cs_init_apply: str = option("full", "what Algorithm 1 leaves: full (its kernels), directions (its kernels "
                                "rescaled per layer back to their initial norms) or norms (the initial kernels "
                                "rescaled per layer to the norms Algorithm 1 ends with: the rescale control)",
                                choices=CS_INIT_APPLY)
    # hooks and logging
    extra_losses: typing.List[str] = option(help="registered extra loss terms to add (see --import)",
                                            factory=list)
    capture: typing.List[str] = option(help="sub-modules whose outputs extra losses see (e.g. stage0 .. stage4)",
                                       factory=list)
    log_steps: bool = option(True, "per-step log of task loss, extra loss, L_CS and batch accuracy")
    eval_at_init: bool = option(False, "test pass at epoch 0 (before training)")
    bn_recal_batches: int = option(0, "BatchNorm-recalibrated test: re-estimate the running statistics on this many "
                                   "training batches (a fixed seeded subset, no augmentation) in a copy of the "
                                   "model before testing it (0: off)")
    bn_recal_every: int = option(1, "recalibrated test every this many epochs (and at the last)")
    # runtime
    seed: int = option(0, "seed of weights and data order")
    device: str = option("cpu", "cpu, cuda or cuda:N")
    amp: bool = option(False, "automatic mixed precision, float16 autocast + GradScaler (CUDA only)")
    dtype: str = option("float32", "parameter and data dtype", choices=("float32", "float64"))
    memory_format: str = option("channels_last", "layout of model and batches: channels_last (NHWC, faster on CPU; "
                                "fp32 throughout) or contiguous (NCHW, the path before this option; both are "
                                "deterministic, their numbers differ by float rounding)", choices=MEMORY_FORMATS)
    precision: str = option("fp32", "fp32, or bf16: bfloat16 autocast of the network's forward (the L_CS, MFD "
                            "and POD losses stay float32)", choices=PRECISIONS)
    pool_first: bool = option(True, "CNN1/CNN2: each block max-pools before its LeakyReLU (faster, the same "
                              "function; the gradient differs only where the activation rounds two inputs of a "
                              "pooling window to one float, so long runs differ in the last bits); "
                              "--no-pool-first: Table 4's order (the committed CS runs); other models: no effect")
    deterministic: bool = option(True, "deterministic algorithms (bit-identical resume on CPU)")
    threads: typing.Optional[int] = option(None, "torch CPU threads (none: torch's default)")
    progress: bool = option(True, "progress bar and one line per epoch")

    def to_dict(self) -> dict:
        """The config as a plain dict (what result files store under ``"config"``)."""
        return dataclasses.asdict(self)

    def validate(self) -> "TrainConfig":
        """``self`` if consistent, else :class:`~experiments.common.cli.UsageError` naming the flag."""
        for name, allowed in (("model", MODELS), ("dataset", tuple(DATASETS)), ("optimizer", ("sgd", "adam")),
                              ("dtype", ("float32", "float64")), ("cs_method", CS_METHODS),
                              ("memory_format", MEMORY_FORMATS), ("precision", PRECISIONS),
                              ("cs_init_objective", CS_INIT_OBJECTIVES), ("cs_init_apply", CS_INIT_APPLY)):
            if getattr(self, name) not in allowed:
                raise UsageError(f"--{name.replace('_', '-')}: expected one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        if self.amp and not str(self.device).startswith("cuda"):
            raise UsageError("--amp: automatic mixed precision is only supported with --device cuda")
        if self.amp and self.dtype != "float32":
            raise UsageError("--amp: needs --dtype float32")
        if self.precision == "bf16" and self.amp:
            raise UsageError("--precision: bf16 and --amp (float16 autocast) exclude each other")
        if self.precision == "bf16" and self.dtype != "float32":
            raise UsageError("--precision: bf16 autocast needs --dtype float32")
        if not isinstance(self.out_dir, (str, os.PathLike)) or not str(self.out_dir).strip():
            raise UsageError(f"--out-dir: expected a directory path, got an empty one ({self.out_dir!r})")
        check_int("epochs", self.epochs, 0)
        for name in ("batch_size", "eval_batch_size"):
            check_int(name, getattr(self, name), 1)
        for name in ("train_per_class", "test_per_class"):
            check_int(name, getattr(self, name), 1, none_ok=True)
        check_int("seed", self.seed, 0)
        check_int("subset_seed", self.subset_seed, 0, none_ok=True)
        check_int("cs_init_iters", self.cs_init_iters, 0)
        check_int("bn_recal_batches", self.bn_recal_batches, 0)
        check_int("bn_recal_every", self.bn_recal_every, 1)
        check_int("threads", self.threads, 1, none_ok=True)
        for m in self.lr_milestones:
            check_int("lr_milestones", m, 1)
        for name in ("lr", "lr_gamma", "cs_init_lr", "width"):            # finite and > 0
            check_number(name, getattr(self, name))
        for name in ("momentum", "weight_decay", "cs_beta"):              # finite and >= 0
            if check_number(name, getattr(self, name), positive=False) < 0:
                raise UsageError(f"{flag_of(name)}: expected a finite number >= 0, got {getattr(self, name)!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise UsageError("--nesterov: needs --optimizer sgd and --momentum > 0")
        resolve_device(self.device, present=False)       # the name; that it is present: before a run starts
        if self.cs_init_iters == 0 and (self.cs_init_objective, self.cs_init_apply) != ("plain", "full"):
            raise UsageError("--cs-init-objective / --cs-init-apply: need --cs-init-iters > 0")
        for n in self.extra_losses:
            if n not in EXTRA_LOSSES:
                raise UsageError(f"--extra-losses: {n!r} is not registered; known: {sorted(EXTRA_LOSSES)}")
        return self


_MALLOC_TUNED: bool | None = None      # tune_malloc's result, once per process


def tune_malloc() -> bool:
    """Keep large freed blocks in glibc's heap instead of returning them to the OS after every step.

    CPU training allocates tens of MB of activations per layer and step; with glibc's default mmap
    threshold each such block is mmap-ed and page-faulted afresh (measured here: 3M page faults and 7 s
    of system time in 4 CNN2 steps; 0.8M and 3.5 s with this setting; CNN1 at batch 512 runs at about
    half speed without it). Applied by every entry point: :class:`Trainer` (so :func:`train` and the
    Python API too) and the CLI verbs; idempotent (the settings are made once per process, later calls
    return the first call's result). Set ``EXPERIMENTS_TRAINING_NO_MALLOPT=1`` before the first call to
    skip. Returns whether the settings are in effect. Numbers are unaffected (allocation policy only).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED is None:
        _MALLOC_TUNED = _mallopt()
    return _MALLOC_TUNED


def _mallopt() -> bool:
    if os.environ.get("EXPERIMENTS_TRAINING_NO_MALLOPT") or not os.uname().sysname == "Linux":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-1, 2 ** 30)) and bool(libc.mallopt(-3, 2 ** 32 - 1))  # M_TRIM / M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


# ------------------------------------------------------------------------------------------- data

_SPLIT_CACHE: dict = {}


def load_split(name: str, split: str, root=None) -> ImageData:
    """:func:`load_dataset` with a per-process cache (the drivers run many configs on the same data)."""
    key = (name, split, str(root), os.environ.get("FASHION_MNIST_DIR"))
    if key not in _SPLIT_CACHE:
        _SPLIT_CACHE[key] = load_dataset(name, split, root)
    return _SPLIT_CACHE[key]


def _prepare_data(cfg: TrainConfig):
    train_full = load_split(cfg.dataset, "train", cfg.data_root)
    test_full = load_split(cfg.dataset, "test", cfg.data_root)
    mean, std = train_full.channel_stats() if cfg.normalize else (None, None)
    train, test = train_full, test_full
    if cfg.train_per_class:
        train = train_full.subset(subset_per_class(train_full.labels, cfg.train_per_class,
                                                   seed=cfg.subset_seed, num_classes=train_full.num_classes))
    if cfg.test_per_class:
        test = test_full.subset(subset_per_class(test_full.labels, cfg.test_per_class,
                                                 seed=cfg.subset_seed, num_classes=test_full.num_classes))
    return train, test, mean, std


# ------------------------------------------------------------------------------------ determinism

def seed_everything(seed: int):
    """Seed Python's, NumPy's and torch's global generators (what a run's weights are drawn from)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state(loader: TensorLoader) -> dict:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
          "loader": loader.state_dict()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict, loader: TensorLoader):
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    loader.load_state_dict(st["loader"])


#: Under deterministic algorithms torch fills every new tensor with NaN by default
#: (``torch.utils.deterministic.fill_uninitialized_memory``), to expose kernels that read memory they never wrote.
#: None of the engine's does (a run with the fill equals one without, bit for bit:
#: ``tests/test_training_speed.py``), and the fill is a pass over every activation: 3-12 % of a CPU training
#: step here. The engine's runs therefore skip it; set this to True to get torch's default back.
FILL_UNINITIALIZED_MEMORY = False


@contextlib.contextmanager
def _determinism(enabled: bool):
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_fill = torch.utils.deterministic.fill_uninitialized_memory
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.utils.deterministic.fill_uninitialized_memory = FILL_UNINITIALIZED_MEMORY
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.utils.deterministic.fill_uninitialized_memory = prev_fill


# ------------------------------------------------------------------------------------- checkpoints

#: what every checkpoint written by :meth:`Trainer.save_checkpoint` holds
CHECKPOINT_KEYS = ("epoch", "wall", "model", "optimizer", "scheduler", "scaler", "rng", "history", "steps",
                   "cs_init", "config")


class CheckpointError(ValueError, CommandError):
    """A checkpoint that cannot be resumed from (truncated, not a checkpoint, or of another model); the message
    names the file and what to do."""

    def __init__(self, path, why: str):
        self.path, self.why = Path(path), why
        super().__init__(f"{path} is not a usable checkpoint: {why}; delete it to restart the run from scratch, "
                         "or restore it from a backup")

    def __reduce__(self):                       # picklable: it may come back from a pool worker or a Ray task
        return (type(self), (str(self.path), self.why))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def read_checkpoint(path) -> dict:
    """The state saved in ``path``, on the CPU (RNG states must stay CPU ByteTensors; ``load_state_dict`` moves
    the rest to the model's device); :class:`CheckpointError` when it is not a complete checkpoint."""
    import pickle
    import zipfile

    try:
        st = torch.load(path, map_location="cpu", weights_only=False)
    except (EOFError, RuntimeError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError,
            AttributeError, ImportError, IndexError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"it cannot be read ({type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(st, dict) or not set(CHECKPOINT_KEYS) <= set(st) or not isinstance(st.get("config"), dict):
        got = sorted(st)[:6] if isinstance(st, dict) else type(st).__name__
        raise CheckpointError(path, f"it does not hold a training state (expected {', '.join(CHECKPOINT_KEYS)}; "
                                    f"got {got})")
    return st


def resume_conflict(state: dict, cfg: "TrainConfig") -> dict:
    """``{field: (saved, now)}`` of the settings in which a checkpoint's config differs from ``cfg`` (the
    fields of :data:`RESUME_IGNORED` may differ)."""
    old = {k: v for k, v in with_legacy_defaults(state["config"]).items() if k not in RESUME_IGNORED}
    new = {k: v for k, v in cfg.to_dict().items() if k not in RESUME_IGNORED}
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


# ----------------------------------------------------------------------------------------- trainer

class Trainer:
    """Builds data, model and optimiser from a :class:`TrainConfig` and runs (or resumes) the training."""

    def __init__(self, config: TrainConfig, *, extra_losses: dict | None = None, train_data=None,
                 test_data=None):
        config.validate()
        tune_malloc()                                           # every entry point, once per process
        self.cfg = config
        self.out = Path(config.out_dir)
        resolve_device(config.device)                           # a UsageError, not torch's AssertionError
        self.dist = dist_utils.info(config.device)
        self.device = torch.device(self.dist.device if self.dist.enabled else config.device)
        #: where the run executes (recorded in ``environment``; plan executors set it: local, ray)
        self.executor = "torchrun" if self.dist.enabled else "sequential"
        self.dtype = getattr(torch, config.dtype)
        if train_data is not None:
            train, test = train_data, test_data
            mean, std = train.channel_stats() if config.normalize else (None, None)
        else:
            train, test, mean, std = _prepare_data(config)
        self.train_data, self.test_data = train, test
        self._normalization = (mean, std)
        seed_everything(config.seed)
        c, h, w = train.shape
        self.model = self.prepare_model(build_model(config.model, in_channels=c, input_size=(h, w),
                                                    num_classes=train.num_classes, width=config.width,
                                                    pool_first=config.pool_first))
        self.num_parameters = count_parameters(self.model)
        # DDP: batch_size is the global batch; each rank keeps its share of it (distributed.ShardedLoader)
        self.train_loader = dist_utils.shard_loader(
            TensorLoader(train, config.batch_size, shuffle=True, augment=config.augment, seed=config.seed + 1,
                         mean=mean, std=std, dtype=self.dtype, device=self.device,
                         memory_format=self.memory_format), self.dist)
        self.test_loader = TensorLoader(test, config.eval_batch_size, shuffle=False, augment=False,
                                        mean=mean, std=std, dtype=self.dtype, device=self.device,
                                        memory_format=self.memory_format)
        self.net = dist_utils.wrap(self.model, self.dist)       # the DDP wrapper, or the model itself
        self.optimizer = self.make_optimizer(self.model.parameters())
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=list(config.lr_milestones),
                                                              gamma=config.lr_gamma)
        self.scaler = torch.amp.GradScaler("cuda", enabled=bool(config.amp))
        self.terms: dict[str, typing.Callable] = {}
        if config.cs_beta:
            self.terms["cs"] = CSRegularizer(config.cs_beta, method=config.cs_method)
        for n in config.extra_losses:
            self.terms[n] = EXTRA_LOSSES[n](config)
        for n, fn in (extra_losses or {}).items():
            if n in self.terms:
                raise ValueError(f"extra_losses: duplicate term name {n!r}")
            self.terms[n] = fn
        self.history: list[dict] = []
        self.steps: dict[str, list] = {"task_loss": [], "extra_loss": [], "l_cs": [], "batch_acc": []}
        self.cs_init: dict | None = None
        self.epoch = 0
        self.wall = 0.0
        self.status = "new"

    # ------------------------------------------------------------------ speed settings
    @property
    def memory_format(self) -> torch.memory_format:
        """``torch.channels_last`` or ``torch.contiguous_format`` (``config.memory_format``)."""
        return torch.channels_last if self.cfg.memory_format == "channels_last" else torch.contiguous_format

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` on the run's device, dtype and memory format (4-d weights NHWC under channels_last); under
        ``precision='bf16'`` its stem convolutions run in float32 (:func:`float32_stems`)."""
        model = model.to(device=self.device, dtype=self.dtype)
        if self.cfg.memory_format == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        if self.cfg.precision == "bf16":
            float32_stems(model, self.device.type)
        return model

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        """The configured SGD / Adam over ``params``.

        On CPU the multi-tensor (``foreach``) step is used: bit-identical to torch's per-parameter loop (the
        CPU default; ``tests/test_training_speed.py`` checks) and not slower. The ``fused`` CPU kernels are
        not used: they round differently and were not faster here for plain SGD (``benchmarks/bench_train.py``
        prints all three).
        """
        cfg = self.cfg
        kw = {"foreach": True} if self.device.type == "cpu" else {}
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                   weight_decay=cfg.weight_decay, **kw)
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)

    def autocast(self):
        """The forward pass's autocast: float16 (``amp``, CUDA), bfloat16 (``precision='bf16'``) or none."""
        if self.cfg.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.float16)
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def low_precision(self) -> bool:
        """Whether the forward runs under an autocast (``amp`` or ``bf16``)."""
        return bool(self.cfg.amp) or self.cfg.precision == "bf16"

    # ------------------------------------------------------------------ losses
    def compute_loss(self, x, y, *, features=None):
        """Forward pass and ``task + Σ extra`` loss. Returns ``(loss, logits, parts)`` where ``parts`` holds
        the task loss and each extra term as tensors (the CS term is ``beta * L_CS``).

        Under ``precision='bf16'`` only the network's forward runs in the autocast (its stem convolutions in
        float32, :func:`float32_stems`); the logits and the captured features are cast up to float32
        (differentiably) before the task loss and the extra terms (MFD's Pearson sums, POD's), and L_CS is
        computed from the float32 weights.
        """
        amp = bool(self.cfg.amp)
        if self.cfg.precision == "bf16":
            with self.autocast():
                logits = self.net(x)
            logits = logits.float()
            task = F.cross_entropy(logits, y)
            features = _fp32(features)
        else:
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=amp):
                logits = self.net(x)
                task = F.cross_entropy(logits, y)
        parts = {"task": task.float() if amp else task}
        outputs = {"logits": logits, "targets": y, "inputs": x, "features": features if features is not None else {}}
        loss = parts["task"]
        for name, fn in self.terms.items():
            v = fn(self.net, outputs)
            parts[name] = v
            loss = loss + v
        return loss, logits, parts

    # ------------------------------------------------------------------ phases
    def _train_epoch(self, bar):
        self.net.train()
        sums = {"loss": 0.0, "extra": 0.0, "correct": 0, "n": 0}
        ctx = capture_stages(self.model, self.cfg.capture) if self.cfg.capture else contextlib.nullcontext({})
        with ctx as feats:
            for x, y in self.train_loader:
                try:
                    loss, logits, parts = self.compute_loss(x, y, features=feats)
                except NonFiniteError:                   # a loss of theory/ met non-finite values: diverged
                    if self.dist.enabled:
                        raise
                    self.status = "diverged"
                    break
                finite = bool(torch.isfinite(loss.detach()))
                b = int(y.shape[0])
                task = float(parts["task"].detach())
                extra = float(sum(float(v.detach()) for k, v in parts.items() if k != "task"))
                correct = int((logits.detach().argmax(1) == y).sum())
                if self.dist.enabled:                    # global-batch numbers; every rank stops together
                    task, extra, correct, b, finite = dist_utils.step_stats(self.dist, task, extra, correct, b,
                                                                            finite)
                    loss = loss + (self.train_loader.share - 1.0) * parts["task"]
                if not finite:
                    self.status = "diverged"             # a non-finite loss ends the run (no step taken)
                    break
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                sums["loss"] += task * b
                sums["extra"] += extra * b
                sums["correct"] += correct
                sums["n"] += b
                if self.cfg.log_steps:
                    if "cs" in parts:
                        lcs = float(parts["cs"].detach()) / self.cfg.cs_beta
                    else:
                        with torch.no_grad(), cs_threads(1):
                            lcs = float(model_cs(self.model, method=self.cfg.cs_method))
                    self.steps["task_loss"].append(task)
                    self.steps["extra_loss"].append(extra)
                    self.steps["l_cs"].append(lcs)
                    self.steps["batch_acc"].append(correct / b)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{task:.4f}", acc=f"{sums['correct'] / sums['n']:.3f}")
        n = sums["n"]
        if n == 0:
            return math.nan, math.nan, math.nan
        return sums["loss"] / n, sums["extra"] / n, sums["correct"] / n

    @torch.no_grad()
    def evaluate(self, model=None):
        """(mean cross-entropy, accuracy) of ``model`` (default: the run's) on the test split (no augmentation,
        eval-mode BatchNorm)."""
        model = self.model if model is None else model
        model.eval()
        loss_sum, correct, n = 0.0, 0, 0
        for x, y in self.test_loader:
            with self.autocast():
                logits = model(x)
            logits = logits.float()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += int(y.shape[0])
        return loss_sum / max(n, 1), correct / max(n, 1)

    @torch.no_grad()
    def evaluate_recalibrated(self):
        """:meth:`evaluate` of a copy of the model whose BatchNorm running statistics were re-estimated first.

        The copy's running means and variances are reset and re-estimated, as plain averages over
        ``bn_recal_batches`` training batches (momentum ``None``; train-mode forwards, no gradient, no
        augmentation, the same seeded subset every time), so eval-mode BatchNorm sees statistics of the
        current weights instead of the exponential average over past ones. The run's model, its statistics
        and the training's random streams are untouched. ``None`` when off or the model has no BatchNorm.
        """
        model = self.recalibrated_model()
        return None if model is None else self.evaluate(model)

    @torch.no_grad()
    def recalibrated_model(self):
        """The copy :meth:`evaluate_recalibrated` tests (``None`` when off or without BatchNorm)."""
        n = self.cfg.bn_recal_batches
        bns = [m for m in self.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not n or not bns:
            return None
        model = copy.deepcopy(self.model)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None
        model.train()
        mean, std = self._normalization
        loader = TensorLoader(self.train_data, self.cfg.batch_size, shuffle=True, seed=self.cfg.seed + 2, mean=mean,
                              std=std, dtype=self.dtype, device=self.device, memory_format=self.memory_format)
        for i, (x, _) in enumerate(loader):
            if i >= n:
                break
            with self.autocast():
                model(x)
        return model

    def _recal_due(self) -> bool:
        return bool(self.cfg.bn_recal_batches) and (self.epoch % self.cfg.bn_recal_every == 0
                                                    or self.epoch == self.cfg.epochs)

    # ------------------------------------------------------------------ records
    def summary(self) -> dict:
        accs = [(r["test_acc"], r["epoch"]) for r in self.history if r.get("test_acc") is not None and r["epoch"] > 0]
        best = max(accs, key=lambda t: (t[0], -t[1])) if accs else (None, None)
        last = self.history[-1] if self.history else {}
        recal = [r["test_acc_recal"] for r in self.history if r.get("test_acc_recal") is not None and r["epoch"] > 0]
        return {"epochs_done": self.epoch, "best_test_acc": best[0], "best_epoch": best[1],
                "last_test_acc": last.get("test_acc"), "last_train_acc": last.get("train_acc"),
                "best_test_acc_recal": max(recal) if recal else None, "last_test_acc_recal": last.get("test_acc_recal"),
                "last_train_loss": last.get("train_loss"), "wall_seconds": self.wall,
                "num_parameters": self.num_parameters, "train_size": len(self.train_data),
                "test_size": len(self.test_data)}

    def record(self) -> dict:
        return {"status": self.status, "config": self.cfg.to_dict(), "summary": self.summary(),
                "history": self.history, "cs_init": self.cs_init,
                "steps": self.steps if self.cfg.log_steps else None,
                "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                                "device": str(self.device), "world_size": self.dist.world_size,
                                "executor": self.executor}}

    def _write_records(self):
        if not self.dist.is_main:
            return
        rec = self.record()
        write_json_atomic(self.out / "metrics.json", rec)
        write_csv_atomic(self.out / "metrics.csv", self.history, EPOCH_COLUMNS)
        if self.status in ("done", "diverged"):
            write_json_atomic(self.out / "result.json", rec)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "wall": self.wall, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": _rng_state(self.train_loader),
                "history": self.history, "steps": self.steps, "cs_init": self.cs_init,
                "config": self.cfg.to_dict()}

    def save_checkpoint(self):
        if self.dist.is_main:
            torch_save_atomic(self.state_dict(), self.out / "checkpoint.pt")

    def load_checkpoint(self, path=None):
        """Restore the run from ``path`` (default ``out_dir/checkpoint.pt``); :class:`CheckpointError` naming the
        file when it cannot be read or does not fit this run's model, ``ValueError`` when it was written with
        another config (:func:`resume_conflict`)."""
        path = Path(path or self.out / "checkpoint.pt")
        st = read_checkpoint(path)
        diff = resume_conflict(st, self.cfg)
        if diff:
            raise ValueError(f"resume: {path} was written with a different config: {diff}")
        try:
            self.model.load_state_dict(st["model"])
            self.optimizer.load_state_dict(st["optimizer"])
            self.scheduler.load_state_dict(st["scheduler"])
            self.scaler.load_state_dict(st["scaler"])
            _set_rng_state(st["rng"], self.train_loader)
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise CheckpointError(path, f"its state does not fit this run ({type(exc).__name__}: "
                                        f"{_first_line(exc)})") from None
        self.epoch, self.wall = int(st["epoch"]), float(st["wall"])
        self.history, self.steps, self.cs_init = st["history"], st["steps"], st["cs_init"]
        self.status = "running"

    # ------------------------------------------------------------------ main loop
    def _epoch_row(self, epoch, lr, tr, test, seconds, recal=None):
        stats = conv_kernel_stats(self.model, method=self.cfg.cs_method)
        return {"epoch": epoch, "lr": lr,
                "train_loss": tr[0] if tr else None, "train_extra_loss": tr[1] if tr else None,
                "train_acc": tr[2] if tr else None,
                "test_loss": test[0] if test else None, "test_acc": test[1] if test else None,
                "test_loss_recal": recal[0] if recal else None, "test_acc_recal": recal[1] if recal else None,
                **stats, "epoch_seconds": seconds, "wall_seconds": self.wall}

    def check_capture(self) -> None:
        """A :class:`UsageError` naming ``--capture`` when a captured sub-module is not in the model."""
        names = [n for n, _ in self.model.named_modules() if n]
        for n in self.cfg.capture:
            if n not in names:
                top = [m for m in names if "." not in m]
                raise UsageError(f"--capture: {type(self.model).__name__} has no sub-module {n!r}; its top-level "
                                 f"ones are {', '.join(top)}")

    def run(self, *, resume: bool = False) -> dict:
        """Train to ``config.epochs`` (from the checkpoint if ``resume`` and one exists); returns the record."""
        cfg = self.cfg
        ckpt = self.out / "checkpoint.pt"
        self.check_capture()                             # before anything is written
        with _determinism(cfg.deterministic), cs_threads(cfg.threads or None):
            if resume and ckpt.is_file():
                self.load_checkpoint(ckpt)
                if self.epoch > cfg.epochs:
                    raise ValueError(f"resume: {ckpt} is at epoch {self.epoch}, past epochs={cfg.epochs}")
            elif ckpt.is_file() or (self.out / "result.json").is_file():
                raise FileExistsError(f"{self.out} already holds a run; pass resume=True (--resume) to continue "
                                      "it or choose another out_dir")
            dist_utils.barrier(self.dist)                # every rank has read the directory before rank 0 writes
            if self.dist.is_main:
                self.out.mkdir(parents=True, exist_ok=True)
                write_json_atomic(self.out / "config.json", cfg.to_dict())
            if self.epoch == 0 and not self.history:
                t0 = time.perf_counter()
                before = conv_kernel_stats(self.model, method=cfg.cs_method)
                if cfg.cs_init_iters:
                    self.cs_init = cs_initialize(self.model, cfg.cs_init_iters, lr=cfg.cs_init_lr,
                                                 method=cfg.cs_method,
                                                 normalized=cfg.cs_init_objective == "normalized",
                                                 apply=cfg.cs_init_apply)
                    self.cs_init["before"] = before
                    dist_utils.broadcast_state(self.model, self.dist)      # DDP: every rank has rank 0's
                test = self.evaluate() if cfg.eval_at_init else None
                recal = self.evaluate_recalibrated() if cfg.eval_at_init else None
                self.wall += time.perf_counter() - t0
                self.history.append(self._epoch_row(0, self.optimizer.param_groups[0]["lr"], None, test,
                                                    time.perf_counter() - t0, recal))
                self.status = "running"
                self.save_checkpoint()
                self._write_records()
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                lr = self.optimizer.param_groups[0]["lr"]
                bar = None
                if cfg.progress and self.dist.is_main:
                    from tqdm import tqdm
                    bar = tqdm(total=len(self.train_loader), desc=f"{cfg.name} epoch {self.epoch + 1}/{cfg.epochs}",
                               leave=False, dynamic_ncols=True)
                try:
                    tr = self._train_epoch(bar)
                finally:
                    if bar is not None:
                        bar.close()
                test = self.evaluate()
                self.scheduler.step()
                self.epoch += 1
                recal = self.evaluate_recalibrated() if self._recal_due() and self.status != "diverged" else None
                seconds = time.perf_counter() - t0
                self.wall += seconds
                self.history.append(self._epoch_row(self.epoch, lr, tr, test, seconds, recal))
                if cfg.progress and self.dist.is_main:
                    r = self.history[-1]
                    print(f"[{cfg.name}] epoch {self.epoch}/{cfg.epochs} train loss {_g(r['train_loss'])} "
                          f"acc {_g(r['train_acc'])} | test loss {_g(r['test_loss'])} acc {_g(r['test_acc'])} "
                          f"{'' if r['test_acc_recal'] is None else ' (recalibrated BN ' + _g(r['test_acc_recal']) + ')'} "
                          f"| L_CS {_g(r['l_cs'])} | {seconds:.1f}s" + (" | DIVERGED" if self.status == "diverged"
                                                                        else ""), flush=True)
                if self.status == "diverged":
                    break
                self.save_checkpoint()
                self._write_records()
                if os.environ.get("EXPERIMENTS_TRAINING_TEST_SLEEP"):     # tests only: a window to kill -9 in
                    time.sleep(float(os.environ["EXPERIMENTS_TRAINING_TEST_SLEEP"]))
            if self.status != "diverged":
                self.status = "done"
            self._write_records()
        return self.record()


#: under bf16, convolutions with at most this many input channels (the stems reading the images) stay float32
STEM_CHANNELS = 4


class _Float32Forward:
    """A module's forward with autocast off and float32 input; the output is cast back to bfloat16 when called
    inside an autocast (so the layers after it run as they would after a bf16 convolution)."""

    def __init__(self, forward, device_type: str):
        self.inner, self.device_type = forward, device_type

    def __call__(self, x):
        lower = torch.is_autocast_enabled(self.device_type)
        with torch.autocast(device_type=self.device_type, enabled=False):
            y = self.inner(x.float())
        return y.to(torch.get_autocast_dtype(self.device_type)) if lower else y


def float32_stems(model: torch.nn.Module, device_type: str = "cpu") -> list[str]:
    """Run the convolutions with at most :data:`STEM_CHANNELS` input channels (CNN1/CNN2's first layer,
    ResNet18's stem: the layers that read the images) in float32 under the bf16 autocast; returns their names.

    The stem sees the raw pixels, is the cheapest layer in FLOPs and the most expensive one to run in bf16 on
    this CPU: oneDNN's bf16 weight gradient for a 1-channel input took 83 ms against 28 ms in float32 (CNN1, batch
    512, 2 threads), so keeping it float32 is both more accurate and faster (measured: +7 % CNN1, +10 % CNN2,
    +14 % ResNet18 x1/4 throughput over bf16 everywhere). Its output is cast to bf16 (inside the autocast), so
    BatchNorm, activations and pooling after it still move half the bytes. The weights are untouched.
    """
    names = []
    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and m.in_channels <= STEM_CHANNELS \
                and not isinstance(m.forward, _Float32Forward):
            m.forward = _Float32Forward(m.forward, device_type)
            names.append(name)
    return names


def _fp32(features):
    """The captured features with every floating tensor of another dtype cast to float32 (differentiably)."""
    if not features:
        return features
    return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() and v.dtype != torch.float32 else v
            for k, v in features.items()}


def _g(x) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.4g}"


def train(config: TrainConfig, *, resume: bool = False, extra_losses=None) -> dict:
    """Build a :class:`Trainer` and run it.

    Parameters
    ----------
    config : TrainConfig
        The run.
    resume : bool
        Continue from ``config.out_dir/checkpoint.pt`` if there is one.
    extra_losses : dict, optional
        ``name -> fn(model, outputs)`` terms added to the task loss.

    Returns
    -------
    dict
        The final record (what ``result.json`` holds).
    """
    return Trainer(config, extra_losses=extra_losses).run(resume=resume)

