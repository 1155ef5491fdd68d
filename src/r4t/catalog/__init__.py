"""Catalogs (items, collections, queries), embedders, faiss index and grounding."""

from r4t.catalog.catalog import Catalog, Collection, Query

__all__ = ["Catalog", "Collection", "Query"]
