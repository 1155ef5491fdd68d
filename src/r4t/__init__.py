"""r4t: set-valued retrieval (Retrieve-for-Train).

A query goes in, a set of K distinct catalog items comes out, chosen to be good as a set.
"""

__version__ = "0.1.0"
