"""Serving: exported retriever artifacts (``artifact``) and the LitServe server (``server``).

Imports are lazy: LitServe's HTTP process unpickles the server's classes, and should not pay
for torch and faiss, which only the model workers use.
"""

from typing import Any

__all__ = ["ExportedRetriever", "export_retriever", "load_retriever"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from r4t.serving import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module 'r4t.serving' has no attribute {name!r}")
