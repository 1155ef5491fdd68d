"""Stage (iii): set diffusion p(Z | z_q) over L x d item-embedding sets (EDM)."""
