"""Generated catalogs (``music``, ``fashion``) registered in the ``catalogs`` registry."""
