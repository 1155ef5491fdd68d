"""Catalog sources: generated built-ins, real-data loaders, shards and datamodules."""
