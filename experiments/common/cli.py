"""One command line for every experiment, built from config dataclasses.

A config is a dataclass whose fields carry their help (and, where they have them, choices) in
``metadata``; :func:`option` writes such a field. :func:`add_config_arguments` turns every field into a
flag (``--field-name``, with its type, default, choices and help), and adds the three flags every command
has: ``--config FILE.toml`` (a TOML table of fields), ``--set FIELD=VALUE`` (repeatable; VALUE is read as
TOML, else as a string) and ``--print-config`` (print the resolved config as TOML and exit).
Precedence: field defaults < ``--config`` < ``--set`` < explicit flags.

:class:`UsageError` is the one error for a bad option; its message names the argument. Commands raise
it before doing any work and the dispatcher (:mod:`experiments.__main__`) turns it into exit status 2.
:class:`CommandError` (a file that cannot be written, a corrupt checkpoint met mid-run) is one error line
too, exit status 1.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     episodes: int = option(1000, "episodes per row")
...     mode: str = option("fast", "how", choices=("fast", "slow"))
>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_config_arguments(p, Demo)
>>> config_from_args(Demo, p.parse_args(["--episodes", "7", "--set", "mode='slow'"]))
Demo(episodes=7, mode='slow')
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import os
import sys
import tomllib
import typing
from pathlib import Path

__all__ = ["UsageError", "CommandError", "option", "add_config_arguments", "config_from_args", "to_toml", "flag_of",
           "check_int", "check_milestones", "check_number", "check_choices", "check_out_dir", "Verb"]


class UsageError(ValueError):
    """A bad option or argument; the message names it (``--episodes: expected ...``)."""


class CommandError(Exception):
    """A failure the user can act on that is not a bad option (a file that cannot be written, a corrupt
    checkpoint met mid-run): the message names the file and what to do; the dispatcher prints it (exit 1)."""


def option(default=dataclasses.MISSING, help: str = "", *, choices=None, factory=None, metavar=None,
           cli: bool = True):
    """A dataclass field with its CLI help. Lists and other mutables: pass ``factory``."""
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None, "metavar": metavar,
            "cli": cli}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_type(cls, f):
    """``(kind, base)``: kind in {'bool', 'list', 'scalar'}; base the element / scalar type."""
    t = typing.get_type_hints(cls)[f.name]
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        t = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(t), typing.get_args(t)
    if t is bool:
        return "bool", bool
    if origin in (list, tuple):
        base = args[0] if args else str
        if typing.get_origin(base) is typing.Union or base is typing.Any:
            base = str
        return "list", base
    return "scalar", t if isinstance(t, type) else str


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return " ".join(map(str, v)) if v else "none"
    return "none" if v is None else str(v)


def _parse_scalar(base, text: str, flag: str):
    if base is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{flag}: expected true or false, got {text!r}")
    if base in (int, float):
        try:
            return base(text)
        except ValueError:
            raise UsageError(f"{flag}: expected {'an integer' if base is int else 'a number'}, got {text!r}") \
                from None
    return text


def _arg_type(base, flag):
    def conv(text):
        try:
            return _parse_scalar(base, text, flag)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    conv.__name__ = base.__name__ if isinstance(base, type) else "value"
    return conv


def add_config_arguments(parser: argparse.ArgumentParser, cls, *, common: bool = True) -> None:
    """A flag for every CLI field of the dataclass ``cls``, and (``common``) --config/--set/--print-config.

    Flags default to ``argparse.SUPPRESS``: only what the user typed reaches :func:`config_from_args`.
    """
    group = parser.add_argument_group("options")
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        kind, base = _field_type(cls, f)
        flag, meta = flag_of(f.name), f.metadata
        default = _default(f)
        help_ = (meta.get("help") or "") + f" (default: {_show(default)})"
        kw = dict(default=argparse.SUPPRESS, help=help_, dest=f.name)
        if kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
            continue
        if meta.get("choices"):
            kw["choices"] = meta["choices"]
        kw["metavar"] = meta.get("metavar") or (None if "choices" in kw else base.__name__.upper()
                                                if isinstance(base, type) else "VALUE")
        if kind == "list":
            kw["nargs"] = "+"
        group.add_argument(flag, type=_arg_type(base, flag), **kw)
    if common:
        g = parser.add_argument_group("configuration")
        g.add_argument("--config", metavar="FILE.toml", default=None,
                       help="read fields from a TOML file (keys are the field names; flags override it)")
        g.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                       help="set one field (VALUE read as TOML, else as a string); repeatable")
        g.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")


def _coerce(cls, f, value, flag):
    kind, base = _field_type(cls, f)
    choices = f.metadata.get("choices")

    def one(v):
        if isinstance(v, str) and base is not str:
            v = _parse_scalar(base, v, flag)
        if base is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if base in (int, float, bool, str) and not (isinstance(v, base) and (base is bool or not isinstance(v, bool))):
            raise UsageError(f"{flag}: expected {base.__name__}, got {v!r}")
        if choices and v not in choices:
            raise UsageError(f"{flag}: expected one of {', '.join(map(str, choices))}, got {v!r}")
        return v

    if value is None:
        return None
    if kind == "list":
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [one(v) for v in value]
    return one(value)


def _set_pairs(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set: expected FIELD=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        try:
            out[k] = tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            out[k] = v
    return out


def config_from_args(cls, ns: argparse.Namespace, **fixed):
    """The config: defaults, then ``--config``, then ``--set``, then explicit flags, then ``fixed``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict = {}
    sources = []
    cfg_file = getattr(ns, "config", None)
    if cfg_file:
        p = Path(cfg_file)
        if not p.is_file():
            raise UsageError(f"--config: no such file {cfg_file!r}")
        try:
            sources.append(("--config", tomllib.loads(p.read_text())))
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"--config: {cfg_file!r} is not valid TOML ({exc})") from None
    sources.append(("--set", _set_pairs(getattr(ns, "set", None) or [])))
    sources.append((None, {k: v for k, v in vars(ns).items() if k in fields}))
    for where, src in sources:
        for k, v in src.items():
            if k not in fields or not fields[k].metadata.get("cli", True):
                known = ", ".join(n for n, f in fields.items() if f.metadata.get("cli", True))
                raise UsageError(f"{where}: unknown field {k!r}; known: {known}")
            values[k] = _coerce(cls, fields[k], v, where if where == "--config" else flag_of(k))
    values.update(fixed)
    return cls(**values)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(cfg) -> str:
    """The config's CLI fields as TOML (None fields as comments, since TOML has no null)."""
    lines = []
    for f in dataclasses.fields(cfg):
        if not f.metadata.get("cli", True):
            continue
        v = getattr(cfg, f.name)
        lines.append(f"# {f.name} = (none)" if v is None else f"{f.name} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


# ---- checks shared by the configs' validate() methods ------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_int(name: str, v, lo: int | None = None, hi: int | None = None, *, none_ok: bool = False):
    """``v`` as an int in ``[lo, hi]``, else :class:`UsageError` naming ``--name``."""
    if v is None and none_ok:
        return None
    if not _is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = ("" if lo is None and hi is None else f" in [{lo}, {hi}]" if hi is not None else f" >= {lo}")
        raise UsageError(f"{flag_of(name)}: expected an integer{rng}, got {v!r}")
    return int(v)


def check_milestones(name: str, v):
    """``v`` (a list of epochs, or ``None``) as strictly increasing ints ``>= 1``, else :class:`UsageError`."""
    if v is None:
        return None
    out = [check_int(name, m, 1) for m in v]
    if not out or out != sorted(set(out)):
        raise UsageError(f"{flag_of(name)}: expected increasing epochs, got {list(v)}")
    return out


def check_number(name: str, v, *, positive: bool = True, none_ok: bool = False):
    """``v`` as a finite float (``> 0`` when ``positive``), else :class:`UsageError`."""
    if v is None and none_ok:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
        raise UsageError(f"{flag_of(name)}: expected a {'positive ' if positive else ''}finite number, got {v!r}")
    return float(v)


def check_choices(name: str, values, allowed, *, canonical: bool = True) -> list:
    """A non-empty list of names from ``allowed`` (de-duplicated; in ``allowed``'s order if ``canonical``)."""
    if not values:
        raise UsageError(f"{flag_of(name)}: expected at least one of {', '.join(map(str, allowed))}")
    for v in values:
        if v not in allowed:
            raise UsageError(f"{flag_of(name)}: unknown {v!r}; expected some of {', '.join(map(str, allowed))}")
    return [a for a in allowed if a in set(values)] if canonical else list(dict.fromkeys(values))


#: free space (bytes) below which an output's file system counts as full
MIN_FREE_BYTES = 64 << 10


def check_out_dir(name: str, path, *, probe: bool = True) -> Path:
    """An output directory this process can create and write in; nothing is created.

    Refused (:class:`UsageError` naming ``--name``): an empty path; an existing file; a path through a file;
    a directory (or, when it does not exist yet, the nearest existing parent) that cannot be written (checked
    by writing and removing a probe file in an existing output directory when ``probe``, by ``os.access``
    otherwise) or whose file system has less than :data:`MIN_FREE_BYTES` free.
    """
    flag = flag_of(name)
    if path is None or str(path).strip() == "":
        raise UsageError(f"{flag}: expected a directory path, got an empty one")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag}: {str(p)!r} exists and is not a directory")
    anc = p
    while not anc.exists() and not anc.is_symlink():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"{flag}: cannot create {str(p)!r}: {str(anc)!r} is not a directory")
    where = str(anc)
    if anc == p and probe:
        _probe(flag, p)
    elif not os.access(anc, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: cannot write in {where!r} (permission denied or a read-only file system); "
                         f"{str(p)!r} could not be created")
    try:
        st = os.statvfs(anc)
    except OSError:
        return p
    if st.f_blocks == 0:
        raise UsageError(f"{flag}: cannot write in {where!r}: it is not on a file system that stores files")
    if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
        raise UsageError(f"{flag}: cannot write in {where!r}: its file system is full "
                         f"({st.f_bavail * st.f_frsize} bytes free)")
    return p


def _probe(flag: str, d: Path) -> None:
    """Write and remove a small probe file in the existing directory ``d``; a :class:`UsageError` if it fails."""
    import tempfile

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=d)
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write in {str(d)!r} ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def check_report_dirs(results, out) -> None:
    """A training study's ``report`` options: ``--out`` as :func:`check_out_dir`, ``--results`` an existing
    directory (:class:`UsageError` naming the flag otherwise)."""
    check_out_dir("out", out)
    if not Path(results).is_dir():
        raise UsageError(f"--results: {results!r} is not a directory (a results directory holds "
                         "<group>/<experiment>/<run>.json; an empty one gives an empty report)")


# ---- verbs --------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Verb:
    """One ``python -m experiments <experiment> <verb>``: its config dataclass and the function that runs it.

    ``func(cfg, ctx) -> int``; ``ctx`` is a dict with ``command`` (the command line, for provenance) and
    ``log`` (a print to stderr). ``add_arguments(parser)`` may add flags that are not config fields.
    """
    help: str
    config: type
    func: typing.Callable
    description: str | None = None
    add_arguments: typing.Callable | None = None
    fixed: typing.Callable | None = None          # ns -> dict of fields taken from the extra flags


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
