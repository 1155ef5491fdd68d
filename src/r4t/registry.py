"""One generic registry for every kind of pluggable component.

Modelled on timm's ``register_model``/``create_model``: a decorator registers an
unconfigured factory (class or function) under a snake_case name, ``build`` turns a
spec into an object. Third-party packages add names through the entry-point group
given at construction (e.g. ``r4t.rewards``); entry points are loaded lazily on the
first lookup and a failing plugin is recorded and shown in the unknown-name error
instead of breaking every other component.

A *spec* is one of
  * ``"name"``                                   -> factory()
  * ``{"name": "mmr", "lambda_": 0.5}``           -> factory(lambda_=0.5)
  * ``{"class_path": "pkg.mod.Cls", "init_args": {...}}`` -> any importable class
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Mapping, TypeVar

from r4t.errors import ConfigError, PluginLoadError, UnknownNameError

T = TypeVar("T")
Spec = str | Mapping[str, Any]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Registry(Generic[T]):
    """Named factories of one kind (rewards, backbones, samplers, ...)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._factories: dict[str, T] = {}
        self._plugin_errors: dict[str, str] = {}
        self._plugins_loaded = entry_point_group is None

    # ------------------------------------------------------------------ registering
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("vendi_diversity")``."""

        def decorator(factory: T) -> T:
            self.add(name, factory)
            return factory

        return decorator

    def add(self, name: str, factory: T) -> None:
        if not _NAME.match(name):
            raise ConfigError(f"{self.kind} name {name!r} must be snake_case ([a-z][a-z0-9_]*)")
        if not callable(factory):
            raise ConfigError(f"{self.kind} {name!r}: registered object must be a class or function")
        existing = self._factories.get(name)
        if existing is not None and existing is not factory:
            raise ConfigError(f"duplicate {self.kind} name {name!r}: already registered by {_qualname(existing)}")
        self._factories[name] = factory

    # ------------------------------------------------------------------ plugins
    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._factories:
                continue
            try:
                self.add(ep.name, ep.load())
            except Exception as exc:  # a broken plugin must not break the built-ins
                self._plugin_errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"

    @property
    def plugin_errors(self) -> dict[str, str]:
        self._load_plugins()
        return dict(self._plugin_errors)

    # ------------------------------------------------------------------ lookup
    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        self._load_plugins()
        if name in self._factories:
            return self._factories[name]
        if name in self._plugin_errors:
            raise PluginLoadError(f"{self.kind} plugin {name!r} failed to load: {self._plugin_errors[name]}")
        raise UnknownNameError(self._unknown_message(name))

    def describe(self) -> dict[str, str]:
        """name -> first line of the factory's docstring (for ``r4t list``)."""
        out = {}
        for name in self.names():
            doc = inspect.getdoc(self._factories[name]) or ""
            out[name] = doc.strip().splitlines()[0] if doc.strip() else ""
        return out

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        msg = f"unknown {self.kind} {name!r}."
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            msg += f" Did you mean {close[0]!r}?"
        msg += f" Known {self.kind}: {', '.join(known) or '(none)'}."
        if self._plugin_errors:
            broken = "; ".join(f"{k} ({v})" for k, v in sorted(self._plugin_errors.items()))
            msg += f" Plugins that failed to load: {broken}."
        return msg

    # ------------------------------------------------------------------ building
    def resolve(self, spec: Spec) -> tuple[Callable[..., Any], dict[str, Any]]:
        """Spec -> (factory, kwargs) without calling the factory."""
        if isinstance(spec, str):
            return self.get(spec), {}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{self.kind} spec must be a name, a mapping with 'name', or class_path/init_args; got {spec!r}")
        spec = dict(spec)
        if "class_path" in spec:
            extra = set(spec) - {"class_path", "init_args"}
            if extra:
                raise ConfigError(f"{self.kind} spec with class_path takes only init_args; unexpected keys {sorted(extra)}")
            return import_object(spec["class_path"]), dict(spec.get("init_args") or {})
        if "name" not in spec:
            raise ConfigError(f"{self.kind} spec {spec!r} needs a 'name' (one of: {', '.join(self.names())}) or a 'class_path'")
        name = spec.pop("name")
        return self.get(name), spec

    def build(self, spec: Spec, **overrides: Any) -> Any:
        """Instantiate a spec; ``overrides`` are runtime arguments (e.g. the catalog)."""
        factory, kwargs = self.resolve(spec)
        kwargs.update(overrides)
        check_signature(factory, kwargs, where=f"{self.kind} {_qualname(factory)}")
        return factory(**kwargs)

    def validate(self, spec: Spec, key: str, provided: tuple[str, ...] = ()) -> list[str]:
        """Every problem with ``spec`` as messages prefixed by its config key path.

        ``provided`` names arguments the caller supplies at build time, so they are
        not reported as missing.
        """
        try:
            factory, kwargs = self.resolve(spec)
            check_signature(factory, {**kwargs, **{p: None for p in provided}}, where=f"{self.kind} {_qualname(factory)}")
        except (ConfigError, PluginLoadError) as exc:
            return [f"{key}: {exc}"]
        return []


def check_signature(factory: Callable[..., Any], kwargs: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError if ``kwargs`` cannot bind to ``factory`` (unknown or missing args)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        params = [p for p in sig.parameters if p not in ("self", "args", "kwargs")]
        raise ConfigError(f"{where}: {exc} (accepted arguments: {', '.join(params) or 'none'})") from None


def import_object(path: str) -> Any:
    """Import ``pkg.module.Name`` (the class_path form)."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ConfigError(f"class_path {path!r} must be a dotted path like 'package.module.ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"class_path {path!r}: cannot import module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"class_path {path!r}: module {module_name!r} has no attribute {attr!r}") from None


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
