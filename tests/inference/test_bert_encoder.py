"""The lean BERT forward reproduces BertModel on every real (non-padding) token."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel

from r4t.inference.bert_encoder import fast_bert_forward


def _tiny_bert(**overrides) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=32, **overrides)
    return BertModel(config, add_pooling_layer=False).eval()


@pytest.mark.parametrize("batch", [1, 5])
def test_matches_bert_model_on_real_tokens(batch):
    model = _tiny_bert()
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(1, 50, (batch, 9), generator=g)
    mask = torch.ones(batch, 9, dtype=torch.long)
    mask[0, 6:] = 0  # padding in the first row
    types = torch.zeros_like(ids)
    forward = fast_bert_forward(model)
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        got = forward(ids, mask, types)
        got_default_types = forward(ids, mask, None)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_default_types, got)


def test_other_architectures_fall_back():
    assert fast_bert_forward(_tiny_bert(hidden_act="relu")) is None
    assert fast_bert_forward(_tiny_bert(position_embedding_type="relative_key")) is None
    assert fast_bert_forward(torch.nn.Linear(2, 2)) is None


def test_refuses_training_mode():
    model = _tiny_bert()
    forward = fast_bert_forward(model)
    model.train()
    with pytest.raises(RuntimeError, match="eval"):
        forward(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
