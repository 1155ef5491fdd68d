"""A lean inference forward for BERT-family sentence encoders (all-MiniLM-L6-v2 and kin).

At serving batch sizes a query encode is short: a batch of 8 queries is about 70 tokens.
There, Hugging Face's ``BertModel.forward`` spends a large share of its time in Python
(mask utilities, per-layer module plumbing, output dataclasses) rather than in matrix
products. This forward runs the same arithmetic on the same weights with fewer, larger
operations, in the spirit of optimum's BetterTransformer fast path:

* query, key and value are one packed product per layer (``r4t.inference.cpu_linear``),
* the intermediate product and its GELU are one fused kernel,
* attention is PyTorch's ``scaled_dot_product_attention`` with a boolean padding mask.

It supports the configuration the bundled encoder uses (absolute positions, exact GELU,
encoder only, eval mode) and returns ``None`` from :func:`fast_bert_forward` for anything
else, so callers fall back to the model's own forward. Equal to ``BertModel`` up to float32
rounding (tested against it).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from r4t.inference.cpu_linear import linear

Forward = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def _supported(model: Any) -> bool:
    config = getattr(model, "config", None)
    return (
        config is not None
        and getattr(config, "model_type", None) == "bert"
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and getattr(config, "hidden_act", None) == "gelu"
        and not getattr(config, "is_decoder", False)
        and hasattr(model, "embeddings") and hasattr(model, "encoder")
    )


def fast_bert_forward(model: Any) -> Forward | None:
    """``(input_ids, attention_mask, token_type_ids) -> last_hidden_state`` for a BertModel,
    or ``None`` when the model is not one this fast path reproduces exactly.

    The fused query/key/value weights are copied once here: rebuild the forward if the
    model's weights change.
    """
    if not _supported(model):
        return None
    config = model.config
    heads = int(config.num_attention_heads)
    width = int(config.hidden_size)
    head_dim = width // heads
    eps = float(config.layer_norm_eps)
    emb = model.embeddings
    layers = []
    with torch.no_grad():
        for layer in model.encoder.layer:
            sa = layer.attention.self
            layers.append((
                torch.cat([sa.query.weight, sa.key.weight, sa.value.weight]).detach().contiguous(),
                torch.cat([sa.query.bias, sa.key.bias, sa.value.bias]).detach().contiguous(),
                layer.attention.output, layer.intermediate.dense, layer.output,
            ))

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if model.training:
            raise RuntimeError("fast_bert_forward is for inference; call model.eval() first")
        batch, length = input_ids.shape
        types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
        h = (F.embedding(input_ids, emb.word_embeddings.weight)
             + emb.position_embeddings.weight[:length]
             + F.embedding(types, emb.token_type_embeddings.weight))
        h = F.layer_norm(h, (width,), emb.LayerNorm.weight, emb.LayerNorm.bias, eps)
        keep = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, L]: which keys each query may see
        for qkv_w, qkv_b, attn_out, inter, out in layers:
            q, k, v = linear(h, qkv_w, qkv_b).view(batch, length, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(batch, length, width)
            h = F.layer_norm(linear(context, attn_out.dense.weight, attn_out.dense.bias) + h, (width,),
                             attn_out.LayerNorm.weight, attn_out.LayerNorm.bias, eps)
            y = linear(h, inter.weight, inter.bias, activation="gelu")
            h = F.layer_norm(linear(y, out.dense.weight, out.dense.bias) + h, (width,), out.LayerNorm.weight, out.LayerNorm.bias, eps)
        return h

    return forward
