"""Neural building blocks: one paper block per module (layers.py) and the embedding functions (embedders.py)."""
