"""The ``catalogs`` registry: every way to obtain a Catalog, by name.

Built-ins are registered here by explicit import; plugins use the ``r4t.catalogs``
entry-point group.
"""

from __future__ import annotations

from r4t.catalog.catalog import Catalog
from r4t.data.builtin import catalogs as builtin
from r4t.registry import Registry

catalogs: Registry = Registry("catalogs", entry_point_group="r4t.catalogs")
catalogs.add("music", builtin.music)
catalogs.add("fashion", builtin.fashion)


@catalogs.register("saved")
def saved(path: str) -> Catalog:
    """A catalog previously written by ``Catalog.save`` (r4t's own JSON-lines format)."""
    return Catalog.load(path)


# Real-data loaders register themselves in their modules; import them explicitly here.
from r4t.data import files as _files  # noqa: E402,F401
from r4t.data import mpd as _mpd  # noqa: E402,F401
from r4t.data import polyvore as _polyvore  # noqa: E402,F401
