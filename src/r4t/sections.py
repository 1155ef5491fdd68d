"""Typed, ranged config sections: one checker for every stage section (``policy``, ``rl``, ``synth``).

A section is a dataclass whose fields carry their type (the annotation) and their range
(``option(default, min=..., choices=...)``). ``checked_section`` turns a YAML mapping into
the dataclass or fails with every problem at once, each naming its key path, so a value such
as ``rl.steps: -5`` or ``synth.samples_per_query: 0`` stops the command before any stage runs
instead of training for minutes (trl would fall back to epochs) or failing after RL.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
import warnings
from typing import Any, Mapping, TypeVar, Union

from r4t.errors import ConfigError

S = TypeVar("S")


def option(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None,
           choices: tuple[Any, ...] | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its accepted range (checked by ``checked_section``)."""
    meta = {k: v for k, v in (("min", min), ("max", max), ("choices", choices)) if v is not None}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_problem(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (None if it does)."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        problems = [_type_problem(value, a) for a in args if a is not type(None)]
        return None if any(p is None for p in problems) else problems[0]
    if hint is type(None):
        return None if value is None else f"expected null, got {value!r}"
    base = origin or hint
    if base in (dict, Mapping):
        return None if isinstance(value, Mapping) else f"expected a mapping, got {value!r}"
    if base in (list, tuple):
        return None if isinstance(value, (list, tuple)) else f"expected a list, got {value!r}"
    if base is bool:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if base is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else f"expected an integer, got {value!r}"
    if base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if base is str:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    return None


def renamed_keys(cls: type) -> dict[str, str]:
    """Old name -> current name of the fields a section renamed (the class's ``RENAMED``)."""
    return dict(getattr(cls, "RENAMED", {}))


def current_names(cls: type, section: Mapping[str, Any], key: str) -> tuple[dict[str, Any], list[str]]:
    """``section`` with every renamed key under its current name, and the problems (a key given
    under both names). An old name still works, with a FutureWarning naming the new one, so
    existing config files keep running (and keep their caches: see ``legacy_names``)."""
    out, problems = dict(section), []
    for old, new in renamed_keys(cls).items():
        if old not in out:
            continue
        if new in out:
            problems.append(f"{key}: {old!r} is the old name of {new!r}; give only {new!r}")
            continue
        warnings.warn(f"{key}.{old} is deprecated; call it {key}.{new} (same meaning)", FutureWarning, stacklevel=3)
        out[new] = out.pop(old)
    return out, problems


def legacy_names(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with renamed fields under the names they had when caches were first keyed by
    them: a rename must not make every cached stage look new."""
    back = {new: old for old, new in renamed_keys(cls).items()}
    return {back.get(name, name): value for name, value in values.items()}


def section_problems(cls: type, section: Any, key: str) -> list[str]:
    """Every problem with ``section`` as ``key.field: message`` lines (empty when it is valid)."""
    if section is None:
        return []
    if not isinstance(section, Mapping):
        return [f"{key}: expected a mapping of settings, got {section!r}"]
    written = {new: old for old, new in renamed_keys(cls).items() if old in section}  # name problems as the file does
    section, problems = current_names(cls, section, key)
    if problems:
        return problems
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name in sorted(set(section) - set(fields), key=str):
        close = difflib.get_close_matches(str(name), list(fields), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        problems.append(f"{key}: unknown key {name!r}.{hint} Known: {', '.join(sorted(fields))}")
    for name, value in section.items():
        if name not in fields:
            continue
        shown = written.get(name, name)
        bad = _type_problem(value, hints[name])
        if bad:
            problems.append(f"{key}.{shown}: {bad}")
            continue
        meta = fields[name].metadata
        if "choices" in meta and value not in meta["choices"]:
            problems.append(f"{key}.{shown}: must be one of {', '.join(map(repr, meta['choices']))}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "min" in meta and value < meta["min"]:
                problems.append(f"{key}.{shown}: must be >= {meta['min']}, got {value!r}")
            if "max" in meta and value > meta["max"]:
                problems.append(f"{key}.{shown}: must be <= {meta['max']}, got {value!r}")
    if not problems:  # the dataclass's own checks (``__post_init__``) on fields whose types and ranges are fine
        try:
            cls(**dict(section))
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


def checked_section(cls: type[S], section: Mapping[str, Any] | None, key: str) -> S:
    """``cls(**section)`` after every check; one ConfigError listing all problems otherwise."""
    problems = section_problems(cls, section, key)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    with warnings.catch_warnings():  # section_problems has warned about an old name already
        warnings.simplefilter("ignore", FutureWarning)
        return cls(**current_names(cls, section or {}, key)[0])
