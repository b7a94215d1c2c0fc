"""The train_att pipeline: TRM with self-attention and RoPE."""
