"""Stage (ii): the objective transducer (RL policy -> (query, set) webdataset shards)."""
