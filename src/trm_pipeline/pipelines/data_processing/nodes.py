"""Node functions of the data_processing pipeline. The logic lives in ``trm_pipeline.dataset``."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from trm_pipeline.dataset import (
    PuzzleTable,
    build,
    fetch_huggingface_files,
    generate_puzzle_table,
    read_puzzle_csv,
    validate_puzzle_table,
)
from trm_pipeline.dataset.config import DataConfig
from trm_pipeline.dataset.validation import PuzzleSet

logger = logging.getLogger(__name__)


def load_raw_puzzles(data_params: dict[str, Any]) -> tuple[PuzzleTable, PuzzleTable]:
    """Read the raw training and test rows from the source chosen by ``data.source``.

    Returns:
        The raw training and test tables.
    """
    config = DataConfig.from_dict(data_params)
    if config.source == "huggingface":
        hub = config.huggingface
        train_path, test_path = fetch_huggingface_files(
            hub.repo_id, [hub.train_file, hub.test_file], hub.revision, hub.cache_dir
        )
        return read_puzzle_csv(train_path), read_puzzle_csv(test_path)
    if config.source == "csv":
        return read_puzzle_csv(config.csv.train_path), read_puzzle_csv(config.csv.test_path)
    generated = config.generated
    train = generate_puzzle_table(
        generated.num_train, generated.min_givens, generated.max_givens, generated.seed, "train"
    )
    test = generate_puzzle_table(
        generated.num_test, generated.min_givens, generated.max_givens, generated.seed + 1, "test"
    )
    return train, test


def validate_puzzles(raw: PuzzleTable, data_params: dict[str, Any]) -> PuzzleSet:
    """Check every raw row and parse the grids (see ``validate_puzzle_table``)."""
    return validate_puzzle_table(raw, on_invalid=DataConfig.from_dict(data_params).on_invalid)


def select_training_puzzles(puzzles: PuzzleSet, data_params: dict[str, Any]) -> PuzzleSet:
    """Apply ``min_rating`` and the seeded ``train_subsample`` to the training puzzles."""
    config = DataConfig.from_dict(data_params)
    return build.select_puzzles(
        puzzles, config.train_subsample, config.seed, config.min_rating, split="train"
    )


def select_test_puzzles(puzzles: PuzzleSet, data_params: dict[str, Any]) -> PuzzleSet:
    """Apply ``min_rating`` and the seeded ``test_subsample`` to the test puzzles."""
    config = DataConfig.from_dict(data_params)
    return build.select_puzzles(
        puzzles, config.test_subsample, config.seed + 1, config.min_rating, split="test"
    )


def _provenance(config: DataConfig) -> dict[str, Any]:
    return {
        "source": config.source,
        "source_settings": dataclasses.asdict(getattr(config, config.source)),
        "seed": config.seed,
        "num_aug": config.num_aug,
        "train_subsample": config.train_subsample,
        "test_subsample": config.test_subsample,
        "min_rating": config.min_rating,
        "on_invalid": config.on_invalid,
    }


def build_train_inputs(puzzles: PuzzleSet, data_params: dict[str, Any]) -> dict[str, Any]:
    """Augment the training puzzles (``num_aug`` copies each) and tokenize them."""
    config = DataConfig.from_dict(data_params)
    augmented = build.augment_training_puzzles(puzzles, config.num_aug, config.seed)
    return build.build_model_inputs(augmented, "train", _provenance(config))


def build_test_inputs(puzzles: PuzzleSet, data_params: dict[str, Any]) -> dict[str, Any]:
    """Tokenize the test puzzles (never augmented, one group per puzzle)."""
    return build.build_model_inputs(puzzles, "test", _provenance(DataConfig.from_dict(data_params)))


def report_leakage(train_puzzles: PuzzleSet, test_puzzles: PuzzleSet) -> dict[str, Any]:
    """Count test puzzles that equal a training puzzle up to the augmentation's symmetries."""
    return build.leakage_report(train_puzzles, test_puzzles)
