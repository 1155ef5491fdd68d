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

Specs read from files someone else wrote (a checkpoint's hyper-parameters) go through
``resolve_trusted`` instead: registered names only, and a ``class_path`` only when it
names a registered factory, checked as a string before anything is imported.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import typing
import warnings
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Mapping, TypeVar

from r4t.errors import ConfigError, PluginLoadError, UnknownNameError

T = TypeVar("T", bound=Callable[..., Any])  # a registered factory: a class or a function
Spec = str | Mapping[str, Any]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PluginNameCollision(UserWarning):
    """An entry point named a component that is already registered; it was skipped."""


class Registry(Generic[T]):
    """Named factories of one kind (rewards, backbones, samplers, ...)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._factories: dict[str, T] = {}
        self._plugin_errors: dict[str, str] = {}
        self._sources: dict[str, str] = {}  # plugin name -> "distribution (module:attr)"
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
        if self.entry_point_group is None:
            return
        for ep in entry_points(group=self.entry_point_group):
            source = f"{getattr(getattr(ep, 'dist', None), 'name', None) or 'an unknown distribution'} ({ep.value})"
            if ep.name in self._factories:  # a built-in or an earlier plugin keeps the name; say so
                owner = self._sources.get(ep.name, f"r4t's built-in {_qualname(self._factories[ep.name])}")
                warnings.warn(f"{self.kind} plugin {ep.name!r} from {source} is skipped: the name is already registered "
                              f"by {owner}", PluginNameCollision, stacklevel=3)
                continue
            try:
                self.add(ep.name, ep.load())
                self._sources[ep.name] = source
            except (Exception, SystemExit) as exc:  # a broken plugin (even one calling sys.exit) must not break the built-ins
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

    def resolve_trusted(self, spec: Spec, where: str) -> tuple[Callable[..., Any], dict[str, Any]]:
        """Like ``resolve`` for a spec from an untrusted file: only built-ins and installed
        plugins. A ``class_path`` is compared, as text, with the dotted paths of the
        registered factories, so an unregistered one is refused without being imported;
        argument values must be plain data (no nested ``class_path``)."""
        if isinstance(spec, Mapping) and "class_path" in spec:
            path = spec["class_path"]
            known = {_dotted(f): f for f in (self.get(n) for n in self.names())}
            if not isinstance(path, str) or path not in known:
                raise ConfigError(f"{where}: refusing {self.kind} class_path {path!r}: a saved file may only name registered "
                                  f"{self.kind} ({', '.join(self.names())}); register yours through the "
                                  f"{self.entry_point_group or 'r4t'} entry-point group")
            factory: Callable[..., Any] = known[path]
            kwargs = dict(spec.get("init_args") or {})
            extra = set(spec) - {"class_path", "init_args"}
            if extra:
                raise ConfigError(f"{where}: {self.kind} spec with class_path takes only init_args; unexpected keys {sorted(extra)}")
        else:
            factory, kwargs = self.resolve(spec)
        _require_plain(kwargs, f"{where}: {self.kind} arguments")
        return factory, kwargs

    def build(self, spec: Spec, defaults: Mapping[str, Any] | None = None, **overrides: Any) -> Any:
        """Instantiate a spec; ``overrides`` are runtime arguments (e.g. the catalog) and win
        over the spec, ``defaults`` fill only what the spec leaves out (e.g. a model's noise range)."""
        factory, kwargs = self.resolve(spec)
        kwargs = {**(defaults or {}), **kwargs}
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
    problems = _config_type_problems(factory, kwargs)
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def _config_type_problems(factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> list[str]:
    """Config values (YAML/JSON scalars, lists, mappings) that do not fit the argument's
    annotation, e.g. ``lambda_: "half"`` for a float. Runtime objects are not checked."""
    from r4t.sections import _type_problem

    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations (a plugin's): let the call decide
        return []
    return [f"argument {name}: {problem}" for name, value in kwargs.items()
            if type(value) in (str, int, float, bool, list, dict) and name in hints
            for problem in [_type_problem(value, hints[name])] if problem]


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


def _dotted(obj: Any) -> str:
    """``pkg.module.Name``: how a class_path names ``obj``."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def _require_plain(value: Any, where: str) -> None:
    """Refuse anything but JSON-like data (no nested component specs that could import code)."""
    if isinstance(value, Mapping):
        if "class_path" in value or "_instantiator" in value:
            raise ConfigError(f"{where}: nested class_path/_instantiator is not allowed in a saved file")
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where}: non-string key {key!r}")
            _require_plain(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _require_plain(item, where)
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise ConfigError(f"{where}: value of type {type(value).__name__} is not plain data")


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
