"""Registry entries for the generated catalogs and their size presets."""

from __future__ import annotations

from dataclasses import replace

from r4t.catalog.catalog import Catalog
from r4t.data.builtin.engine import CatalogSize, build_catalog
from r4t.data.builtin.fashion import FashionDomain
from r4t.data.builtin.music import MusicDomain
from r4t.errors import ConfigError

SIZES: dict[str, CatalogSize] = {
    # The defaults meet the design card (>= 20k items, >= 3k collections); tiny is for tests.
    "default": CatalogSize(items=24_000, collections=3_200, open_queries=1_000, compositional_queries=1_000),
    "small": CatalogSize(items=4_000, collections=600, open_queries=300, compositional_queries=300),
    "tiny": CatalogSize(items=2_000, collections=60, open_queries=60, compositional_queries=60),
}


def _size(size: str, items: int | None = None) -> CatalogSize:
    """A size preset; ``items`` overrides its item count (scale tests: 100k, 1M items)."""
    if size not in SIZES:
        raise ConfigError(f"unknown catalog size {size!r}; choose one of {', '.join(SIZES)}")
    if items is None:
        return SIZES[size]
    if items < 100:
        raise ConfigError(f"catalog.items must be at least 100, got {items}")
    return replace(SIZES[size], items=int(items))


def music(size: str = "default", seed: int = 0, items: int | None = None) -> Catalog:
    """Generated music catalog: tracks with hidden attributes, playlists, broad queries (no download)."""
    return build_catalog(MusicDomain(), _size(size, items), seed, name=f"music-{size}" + (f"-{items}" if items else ""))


def fashion(size: str = "default", seed: int = 0, items: int | None = None) -> Catalog:
    """Generated fashion catalog: products with category slots, outfits, broad queries (no download)."""
    return build_catalog(FashionDomain(), _size(size, items), seed, name=f"fashion-{size}" + (f"-{items}" if items else ""))
