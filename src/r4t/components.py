"""Every component registry, imported explicitly (no scanning), for `r4t list` and validation."""

from __future__ import annotations

from r4t.registry import Registry


def all_registries() -> dict[str, Registry]:
    from r4t.catalog.embedders import embedders
    from r4t.data.sources import catalogs
    from r4t.diffusion.backbones import backbones
    from r4t.diffusion.samplers import samplers
    from r4t.retrievers import retrievers
    from r4t.rewards import rewards

    return {"catalogs": catalogs, "embedders": embedders, "backbones": backbones, "rewards": rewards,
            "retrievers": retrievers, "samplers": samplers}
