"""r4t: set-valued retrieval (Retrieve-for-Train).

A query goes in, a set of K distinct catalog items comes out, chosen to be good as a set.
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: `import r4t` stays cheap (no torch/faiss until used)
    if name in ("load_retriever", "export_retriever"):
        from r4t import serving

        return getattr(serving, name)
    raise AttributeError(f"module 'r4t' has no attribute {name!r}")
