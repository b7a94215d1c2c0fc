"""Selection, augmentation and tokenization of validated puzzles into model inputs."""

from __future__ import annotations

import logging
from typing import Any, TypedDict

import numpy as np

from trm_pipeline.dataset.validation import PuzzleSet
from trm_pipeline.sudoku import (
    BLANK_TOKEN,
    NUM_CELLS,
    PAD_TOKEN,
    TOKEN_MAP,
    VOCAB_SIZE,
    augment_puzzles,
    find_equivalent,
    grids_to_tokens,
)

logger = logging.getLogger(__name__)


class ModelInputs(TypedDict):
    """Token arrays of one split, as the model reads them."""

    inputs: np.ndarray  # [N, 81] uint8 tokens: blank 1, digit d -> d + 1
    labels: np.ndarray  # [N, 81] uint8 tokens of the solution
    group_indices: np.ndarray  # [G + 1] int64: rows of group g are [g_i[g], g_i[g + 1])
    ratings: np.ndarray  # [N] int64, the source's difficulty rating of each row
    sources: np.ndarray  # [N] str
    metadata: dict[str, Any]


def select_puzzles(
    puzzles: PuzzleSet,
    count: int | None,
    seed: int,
    min_rating: int | None = None,
    split: str = "train",
) -> PuzzleSet:
    """Keep puzzles with ``rating >= min_rating``, then a seeded random subset of ``count``.

    Unlike the reference build, the subset depends only on ``seed``, so two builds with the
    same configuration select the same puzzles. The subset keeps the file order.

    Raises:
        ValueError: fewer puzzles are left than ``count`` asks for.
    """
    keep = np.ones(len(puzzles["rating"]), dtype=bool)
    if min_rating is not None:
        keep &= puzzles["rating"] >= min_rating
        logger.info(
            "%s: %d of %d puzzles have rating >= %d", split, keep.sum(), len(keep), min_rating
        )
    candidates = np.flatnonzero(keep)
    if count is not None:
        if count > len(candidates):
            raise ValueError(
                f"The {split} subset asks for {count} puzzles but only {len(candidates)} are "
                f"available after filtering. Lower the {split} subset size or min_rating, or "
                "provide more puzzles."
            )
        rng = np.random.default_rng(seed)
        candidates = np.sort(rng.choice(candidates, size=count, replace=False))
    return PuzzleSet(**{key: value[candidates] for key, value in puzzles.items()})


def augment_training_puzzles(puzzles: PuzzleSet, num_aug: int, seed: int) -> PuzzleSet:
    """Store each puzzle followed by ``num_aug`` seeded, validity-preserving augmentations."""
    questions, answers, group_indices = augment_puzzles(
        puzzles["question"], puzzles["answer"], num_aug=num_aug, seed=seed
    )
    group_size = num_aug + 1
    logger.info(
        "Augmented %d puzzles x %d copies = %d rows",
        len(puzzles["rating"]),
        group_size,
        len(questions),
    )
    return PuzzleSet(
        question=questions,
        answer=answers,
        rating=np.repeat(puzzles["rating"], group_size),
        source=np.repeat(puzzles["source"], group_size),
        group_indices=group_indices,
    )


def build_model_inputs(puzzles: PuzzleSet, split: str, provenance: dict[str, Any]) -> ModelInputs:
    """Tokenize puzzles and attach the metadata record that checkpoints are checked against.

    Args:
        puzzles: validated (and for training, augmented) puzzles. A ``group_indices`` entry
            groups augmented copies; without it every puzzle is its own group.
        split: ``"train"`` or ``"test"``.
        provenance: source name, files, seeds and selection settings, stored as they are.
    """
    num_rows = len(puzzles["rating"])
    group_indices = puzzles.get("group_indices")
    if group_indices is None:
        group_indices = np.arange(num_rows + 1, dtype=np.int64)
    metadata = {
        "split": split,
        "vocab_size": VOCAB_SIZE,
        "seq_len": NUM_CELLS,
        "pad_token": PAD_TOKEN,
        "blank_token": BLANK_TOKEN,
        "token_map": dict(TOKEN_MAP),
        "num_rows": int(num_rows),
        "num_groups": int(len(group_indices) - 1),
        "mean_givens": float((puzzles["question"] != 0).sum(axis=1).mean()),
        **provenance,
    }
    return ModelInputs(
        inputs=grids_to_tokens(puzzles["question"]),
        labels=grids_to_tokens(puzzles["answer"]),
        group_indices=np.asarray(group_indices, dtype=np.int64),
        ratings=puzzles["rating"].astype(np.int64),
        sources=puzzles["source"],
        metadata=metadata,
    )


def leakage_report(train: PuzzleSet, test: PuzzleSet) -> dict[str, Any]:
    """Count test puzzles equal to a training puzzle up to the augmentation's symmetries.

    The symmetries are digit relabelling, band and row-in-band permutations, stack and
    column-in-stack permutations, and transposition.
    """
    matches = find_equivalent(train["question"], test["question"], progress=len(test) > 10_000)
    leaked = np.flatnonzero(matches >= 0)
    report = {
        "num_train_puzzles": len(train["question"]),
        "num_test_puzzles": len(test["question"]),
        "num_test_equivalent_to_train": len(leaked),
        "share_test_equivalent_to_train": float(len(leaked) / max(len(test["question"]), 1)),
        "symmetries": "digits, bands, rows in band, stacks, columns in stack, transpose",
        "examples": [{"test_index": int(t), "train_index": int(matches[t])} for t in leaked[:20]],
    }
    logger.info(
        "Leakage: %d of %d test puzzles equal a training puzzle up to symmetry",
        len(leaked),
        len(test["question"]),
    )
    return report
