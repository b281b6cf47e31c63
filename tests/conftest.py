"""Shared pytest set-up: hypothesis profiles and the device list."""

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# "default" keeps the suite within CI's budget; HYPOTHESIS_PROFILE=thorough runs 10x more examples.
settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# under pytest-xdist each worker is one process of several: one torch thread each, so that N workers on N cores
# do not oversubscribe them (tests that time or thread-count something set their own threads); the commands a
# test starts get the same default, so that a result written in-process and one written by a subprocess record
# the same thread count, as they do in a serial run
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"

DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device present")])]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def fashion_mnist_available() -> bool:
    root = Path(os.environ.get("FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")
    return all((root / f"{s}-{k}-idx{d}-ubyte.gz").is_file()
               for s in ("train", "t10k") for k, d in (("images", 3), ("labels", 1)))


#: for tests that read the real Fashion-MNIST: they skip, saying why, only where it cannot be had
needs_fashion_mnist = pytest.mark.skipif(
    not fashion_mnist_available(),
    reason="Fashion-MNIST is not installed (bash tools/setup-data.sh installs Debian's dataset-fashion-mnist, "
           "or set $FASHION_MNIST_DIR)")

