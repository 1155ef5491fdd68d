"""Stage (i): the fan-out LM (prompting, parsing, grounding)."""
