"""Resumable sampling of training batches from augmented puzzle groups.

This follows the reference's training iterator: a pass covers ``epochs_per_pass`` epochs;
each epoch visits every group once in a random order and takes one randomly chosen member
(the original or one of its augmentations); picks are packed into full global batches and
the incomplete last batch of a pass is dropped. Each pass draws from its own
``Philox(seed + pass_index)`` stream, so the sampler state is just two integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SamplerState:
    pass_index: int = 0
    batch_index: int = 0  # next batch inside the pass


class GroupBatchSampler:
    """Yields row indices of global training batches, one optimizer step at a time.

    Args:
        group_indices: [G + 1] start offsets of the groups; group g is rows
            ``group_indices[g]:group_indices[g + 1]``.
        global_batch_size: rows per batch across all processes.
        epochs_per_pass: epochs drawn together before the last partial batch is dropped.
        seed: base seed of the per-pass random streams.
    """

    def __init__(
        self, group_indices: np.ndarray, global_batch_size: int, epochs_per_pass: int, seed: int
    ) -> None:
        self.group_starts = np.asarray(group_indices[:-1], dtype=np.int64)
        self.group_sizes = np.diff(np.asarray(group_indices, dtype=np.int64))
        if len(self.group_sizes) == 0 or (self.group_sizes <= 0).any():
            raise ValueError("group_indices must describe at least one non-empty group.")
        self.global_batch_size = global_batch_size
        self.epochs_per_pass = epochs_per_pass
        self.seed = seed
        self.state = SamplerState()
        self._pass_rows: np.ndarray | None = None
        if self.batches_per_pass == 0:
            raise ValueError(
                f"global_batch_size {global_batch_size} is larger than one pass "
                f"({epochs_per_pass} epochs x {len(self.group_sizes)} groups); lower the "
                "batch size or raise eval_interval."
            )

    @property
    def batches_per_pass(self) -> int:
        return (self.epochs_per_pass * len(self.group_sizes)) // self.global_batch_size

    def _draw_pass(self, pass_index: int) -> np.ndarray:
        rng = np.random.Generator(np.random.Philox(self.seed + pass_index))
        num_groups = len(self.group_sizes)
        order = np.concatenate([rng.permutation(num_groups) for _ in range(self.epochs_per_pass)])
        members = rng.integers(0, self.group_sizes[order])
        return self.group_starts[order] + members

    def next_batch(self) -> np.ndarray:
        """Return the row indices [global_batch_size] of the next batch and advance."""
        if self.state.batch_index >= self.batches_per_pass:
            self.state = SamplerState(self.state.pass_index + 1, 0)
            self._pass_rows = None
        if self._pass_rows is None:
            self._pass_rows = self._draw_pass(self.state.pass_index)
        start = self.state.batch_index * self.global_batch_size
        self.state.batch_index += 1
        return self._pass_rows[start : start + self.global_batch_size]

    def state_dict(self) -> dict[str, int]:
        return {"pass_index": self.state.pass_index, "batch_index": self.state.batch_index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.state = SamplerState(int(state["pass_index"]), int(state["batch_index"]))
        self._pass_rows = None
