"""Bad inputs: every registry entry's ``error_inputs`` raise the stated exception, in the reference and
in the twin, with a message that matches the stated regex and starts by naming the argument(s).

One parametrised test over the registry; ids read ``<op>-<world>-<case>``. Cases whose twin call needs
a second device run with ``meta`` tensors (shapes only) and, where a GPU is present, with ``cuda``.
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch

from theory._validate import NonFiniteError
from theory.opinfo import to_torch
from theory.registry import REGISTRY

SECOND_DEVICES = ["meta", pytest.param("cuda", marks=[
    pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device present")])]


def _params():
    for op in REGISTRY:
        for case in op.error_inputs():
            for world in case.worlds():
                ident = f"{op.name}-{world}-{case.desc}"
                if world == "twin" and case.other_device:
                    for dev in SECOND_DEVICES:
                        name = dev if isinstance(dev, str) else dev.values[0]
                        marks = () if isinstance(dev, str) else dev.marks
                        yield pytest.param(op, case, world, name, id=f"{ident}-{name}", marks=marks)
                else:
                    yield pytest.param(op, case, world, None, id=ident)


PARAMS = list(_params())


def _twin_args(case, second_device):
    out = []
    for i, a in enumerate(case.args):
        if i in case.raw:
            out.append(a)
        else:
            out.append(to_torch(a, torch.float64, second_device if i in case.other_device else "cpu"))
    return out, {k: to_torch(v) for k, v in case.kwargs.items()}


def _named(message: str) -> list[str]:
    """The argument names a message starts with: ``'x and k: ...'``, ``'padding (axis 0 ...): ...'``,
    ``'stages[1]: ...'`` give ``['x', 'k']``, ``['padding']``, ``['stages']``."""
    head = message.split(":", 1)[0].split(" (")[0]
    return [t for t in re.findall(r"[A-Za-z_]\w*", head) if t != "and"]


@pytest.mark.parametrize("op, case, world, second_device", PARAMS)
def test_bad_input_raises_naming_the_argument(op, case, world, second_device):
    fn = op.error_target(world)
    args, kwargs = (list(case.args), dict(case.kwargs)) if world == "reference" else _twin_args(case, second_device)
    with pytest.raises(case.exc, match=case.match) as info:
        fn(*args, **kwargs)
    # exactly the declared type (NonFiniteError is the ValueError of non-finite values and overflows)
    assert (type(info.value) is case.exc or case.exc is Exception
            or (case.exc is ValueError and type(info.value) is NonFiniteError)), f"raised {type(info.value).__name__}"
    names = _named(str(info.value))
    params = set(inspect.signature(fn).parameters)
    assert names and set(names) <= params, (
        f"the message should start with the argument's name ({sorted(params)}): {info.value}")


def test_every_entry_has_bad_inputs_for_both_worlds():
    for op in REGISTRY:
        cases = list(op.error_inputs())
        worlds = {w for c in cases for w in c.worlds()}
        assert worlds == {"reference", "twin"}, f"{op.name}: error inputs only for {sorted(worlds)}"
        descs = [c.desc for c in cases]
        assert len(descs) == len(set(descs)), f"{op.name}: repeated case descriptions"


def test_the_message_check_can_fail():
    assert _named("x and k: expected tensors on the same device") == ["x", "k"]
    assert _named("padding (axis 0 of 2, kernel size 1): pads must lie in") == ["padding"]
    assert _named("stages[1]: the off-diagonal") == ["stages"]
    assert _named("expected a real number") == ["expected", "a", "real", "number"]   # no colon: not a name


def test_cross_device_cases_exist():
    """The twin's device check is exercised: some cases move an argument to a second device."""
    assert sum(1 for p in PARAMS if p.values[3] == "meta") >= 4
