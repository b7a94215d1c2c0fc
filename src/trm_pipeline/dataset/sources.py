"""Raw puzzle sources: the Hugging Face Hub, local CSV files and the project's generator.

Every source returns a ``PuzzleTable`` of raw text rows. Nothing is parsed or checked here,
so that validation can report the file, line and column of a bad row.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import TypedDict

import numpy as np

from trm_pipeline.sudoku import format_grids, generate_puzzles

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("source", "question", "answer", "rating")


class PuzzleTable(TypedDict):
    """Raw puzzle rows as equal-length arrays, in the Sudoku-Extreme CSV layout."""

    source: np.ndarray  # [N] str
    question: np.ndarray  # [N] str, 81 characters when valid
    answer: np.ndarray  # [N] str
    rating: np.ndarray  # [N] str, an integer when valid
    line: np.ndarray  # [N] int64, 1-based line in `file` (0 for generated rows)
    file: str  # where the rows came from, for error messages


class HubUnreachableError(RuntimeError):
    """The Hugging Face Hub could not be reached and the files are not in the local cache."""


def read_puzzle_csv(path: str | Path) -> PuzzleTable:
    """Read a CSV file in the ``source,question,answer,rating`` layout of Sudoku-Extreme.

    Args:
        path: CSV file with a header row naming at least the four columns.

    Returns:
        The rows as text, with their line numbers.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, a column is missing or a row has too few fields.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Puzzle CSV {path} not found. Point data.csv.train_path / data.csv.test_path at "
            "files in the source,question,answer,rating layout, or use data.source: generated."
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty: expected a header row '{','.join(CSV_COLUMNS)}'.")
        columns = [name.strip().lower() for name in header]
        missing = [name for name in CSV_COLUMNS if name not in columns]
        if missing:
            raise ValueError(
                f"{path}, line 1: missing column(s) {missing}; the header is {header}. "
                f"Expected the columns {','.join(CSV_COLUMNS)}."
            )
        index = [columns.index(name) for name in CSV_COLUMNS]
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path} has a header but no puzzle rows.")
    width = max(index) + 1
    for offset, row in enumerate(rows):
        if len(row) < width:
            raise ValueError(
                f"{path}, line {offset + 2}: {len(row)} field(s) where {len(columns)} are "
                f"expected ({','.join(columns)}). Fix or remove the row."
            )
    fields = [np.array([row[i] for row in rows], dtype=str) for i in index]
    logger.info("Read %d puzzle rows from %s", len(rows), path)
    return PuzzleTable(
        source=fields[0],
        question=fields[1],
        answer=fields[2],
        rating=fields[3],
        line=np.arange(2, len(rows) + 2, dtype=np.int64),
        file=str(path),
    )


def fetch_huggingface_files(
    repo_id: str,
    filenames: list[str],
    revision: str | None = None,
    cache_dir: str | None = None,
) -> list[Path]:
    """Download dataset files from the Hugging Face Hub, or take them from the local cache.

    ``huggingface_hub`` reuses files already in its cache (``HF_HOME`` or ``cache_dir``), and
    with ``HF_HUB_OFFLINE=1`` it reads only the cache.

    Raises:
        HubUnreachableError: the Hub cannot be reached and a file is not cached.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    paths = []
    for filename in filenames:
        try:
            local = hf_hub_download(
                repo_id=repo_id,
                filename=filename,
                repo_type="dataset",
                revision=revision,
                cache_dir=cache_dir,
            )
        except (LocalEntryNotFoundError, OSError) as error:
            raise HubUnreachableError(
                f"Could not download {filename} of the dataset {repo_id} (revision "
                f"{revision or 'main'}) from the Hugging Face Hub, and it is not in the local "
                f"cache: {error}. Without network access, set data.source: csv with local "
                "files in the source,question,answer,rating layout, or data.source: generated "
                "to make puzzles with the project's generator."
            ) from error
        paths.append(Path(local))
        logger.info("Using %s from the Hugging Face Hub cache: %s", filename, local)
    return paths


def generate_puzzle_table(
    count: int, min_givens: int, max_givens: int, seed: int, name: str
) -> PuzzleTable:
    """Generate ``count`` puzzles with a unique solution and return them as raw rows."""
    puzzles, solutions, ratings = generate_puzzles(
        count, min_givens=min_givens, max_givens=max_givens, seed=seed, progress=count >= 1000
    )
    return PuzzleTable(
        source=np.array([f"generated_seed{seed}"] * count),
        question=np.array(format_grids(puzzles), dtype=str).reshape(count),
        answer=np.array(format_grids(solutions), dtype=str).reshape(count),
        rating=ratings.astype(str),
        line=np.zeros(count, dtype=np.int64),
        file=f"<generator {name}: seed {seed}, {min_givens}-{max_givens} givens>",
    )
