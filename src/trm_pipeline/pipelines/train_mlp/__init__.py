"""The train_mlp pipeline: TRM with the token-mixing MLP (MLP-mixer)."""
