"""Exception hierarchy: every error r4t raises on purpose is an R4TError, so the CLI
can print it as one clear line instead of a traceback."""

from __future__ import annotations


class R4TError(Exception):
    """Base class of every error r4t raises deliberately."""


class ConfigError(R4TError, ValueError):
    """A config value, key or component spec is wrong."""


class DataError(R4TError, ValueError):
    """Input data (files, records, embeddings, catalogs) is missing or malformed."""


class UnknownNameError(ConfigError, KeyError):
    """A registry lookup named a component that is not registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class PluginLoadError(R4TError, ImportError):
    """A third-party entry point could not be imported."""
