"""Sudoku grids as numpy arrays: parsing, formatting and the model's token map.

Conventions used across :mod:`trm_pipeline.sudoku`:

- a grid is a ``uint8`` array, ``0`` for a blank cell and ``1``..``9`` for digits;
- a single grid may be given as ``[9, 9]`` or ``[81]`` (row-major);
- a batch is ``[N, 81]`` ``uint8`` (``[N, 9, 9]`` is accepted as input too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GRID_SIZE = 9
NUM_CELLS = 81
PAD_TOKEN = 0
BLANK_TOKEN = 1
VOCAB_SIZE = 11
TOKEN_MAP: dict[str, int] = {"<pad>": PAD_TOKEN, "<blank>": BLANK_TOKEN} | {
    str(d): d + 1 for d in range(1, 10)
}

# Characters that only lay a grid out (pretty-printed grids) and are skipped when parsing.
_SEPARATORS = frozenset(" \t\r\n\f\v|-+")
_ALLOWED = "'.' or '0' for a blank, '1'-'9' for a digit"

# Character -> cell value for the one-grid parser.
_CHAR_TO_CELL = {".": 0, "0": 0} | {str(d): d for d in range(1, 10)}


def as_grid(grid, name: str = "grid") -> np.ndarray:
    """Return one grid as a ``[81]`` uint8 array, checking shape and values.

    Accepts any integer array-like of shape ``[9, 9]`` or ``[81]`` with values 0..9.
    """
    arr = np.asarray(grid)
    if arr.shape not in ((GRID_SIZE, GRID_SIZE), (NUM_CELLS,)):
        raise ValueError(f"{name} must have shape (9, 9) or (81,), got {arr.shape}")
    return _checked_values(arr.reshape(NUM_CELLS), name)


def as_batch(grids, name: str = "grids") -> np.ndarray:
    """Return a batch of grids as a ``[N, 81]`` uint8 array, checking shape and values.

    Accepts ``[N, 81]`` or ``[N, 9, 9]`` integer array-likes with values 0..9.
    """
    arr = np.asarray(grids)
    if arr.ndim == 3 and arr.shape[1:] == (GRID_SIZE, GRID_SIZE):
        arr = arr.reshape(arr.shape[0], NUM_CELLS)
    if arr.ndim != 2 or arr.shape[1] != NUM_CELLS:
        raise ValueError(f"{name} must have shape (N, 81) or (N, 9, 9), got {arr.shape}")
    return _checked_values(arr, name)


def _checked_values(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        if arr.size and int(arr.max()) > 9:
            raise ValueError(f"{name} values must be 0 (blank) or 1-9, found {int(arr.max())}")
        return arr
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            return arr.astype(np.uint8)
        raise TypeError(f"{name} must hold integers 0-9, got dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 9:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} values must be 0 (blank) or 1-9, found {bad}")
    return arr.astype(np.uint8)


def parse_grid(text: str) -> np.ndarray:
    """Parse one grid from text into a ``[81]`` uint8 array.

    ``.`` or ``0`` is a blank, ``1``-``9`` a digit. Whitespace, newlines and the
    separators ``|``, ``-`` and ``+`` are ignored, so the output of :func:`pretty_grid`
    parses back. Raises ValueError naming the offending character and its 1-based position
    in ``text``, or the number of cells found when it is not 81.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    cells = []
    for pos, ch in enumerate(text, start=1):
        if ch in _SEPARATORS:
            continue
        value = _CHAR_TO_CELL.get(ch)
        if value is None:
            raise ValueError(
                f"invalid character {ch!r} at position {pos}: allowed are {_ALLOWED}"
                " (whitespace and '|', '-', '+' separators are ignored)"
            )
        cells.append(value)
    if len(cells) != NUM_CELLS:
        raise ValueError(f"a grid needs exactly 81 cells, got {len(cells)} in {len(text)} chars")
    return np.array(cells, dtype=np.uint8)


def parse_grids(texts: Sequence[str]) -> np.ndarray:
    """Parse many grids into a ``[N, 81]`` uint8 array.

    Plain 81-character strings take a vectorized path (one ``np.frombuffer`` over the
    joined bytes); other rows (pretty-printed grids) fall back to :func:`parse_grid`.
    Errors name the row index.
    """
    if isinstance(texts, str):
        raise TypeError("parse_grids expects a sequence of strings; use parse_grid for one")
    texts = texts if isinstance(texts, list) else list(texts)
    n = len(texts)
    if n == 0:
        return np.zeros((0, NUM_CELLS), dtype=np.uint8)
    try:
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        fast = np.flatnonzero(lengths == NUM_CELLS)
        rows = texts if len(fast) == n else [texts[i] for i in fast]
        joined = "".join(rows)
    except TypeError:
        i, t = next((i, t) for i, t in enumerate(texts) if not isinstance(t, str))
        raise TypeError(f"row {i}: expected a str, got {type(t).__name__}") from None
    if not joined.isascii():  # rows with non-ASCII characters go to the slow path
        keep = np.fromiter((t.isascii() for t in rows), dtype=bool, count=len(rows))
        fast = fast[keep]
        joined = "".join(texts[i] for i in fast)
    # Byte arithmetic instead of a table lookup (which would need an intp index as large as
    # the data): '0'-'9' -> 0-9 and '.' -> 254 (uint8 wrap-around); anything else is invalid.
    shifted = np.frombuffer(joined.encode("ascii"), dtype=np.uint8) - np.uint8(ord("0"))
    dot = np.uint8(ord(".") - ord("0") + 256)
    invalid = (shifted > 9) & (shifted != dot)
    values = np.multiply(shifted, shifted <= 9, out=np.empty_like(shifted))
    values = values.reshape(-1, NUM_CELLS)
    if not invalid.any():
        if len(fast) == n:
            return values
        bad = np.zeros(len(fast), dtype=bool)
    else:
        bad = invalid.reshape(-1, NUM_CELLS).any(axis=1)
    # Rows that are not plain 81-char strings (pretty-printed ones, or errors) are parsed
    # one by one, which also produces the precise error message.
    out = np.empty((n, NUM_CELLS), dtype=np.uint8)
    out[fast] = values
    is_slow = np.ones(n, dtype=bool)
    is_slow[fast[~bad]] = False
    slow = np.flatnonzero(is_slow)
    for i in slow:
        try:
            out[i] = parse_grid(texts[i])
        except ValueError as exc:
            raise ValueError(f"row {int(i)}: {exc}") from None
    return out


def _to_chars(grids: np.ndarray, blank: str) -> np.ndarray:
    """ASCII codes of the cells: digits '1'-'9', ``blank`` for 0 (uint8 arithmetic)."""
    if not isinstance(blank, str) or len(blank) != 1 or ord(blank) > 127:
        raise ValueError(f"blank must be a single ASCII character, got {blank!r}")
    delta = np.uint8((ord(blank) - ord("0")) % 256)
    is_blank = (grids == 0).view(np.uint8)
    chars = np.add(grids, np.uint8(ord("0")))
    chars += np.multiply(is_blank, delta, out=np.empty_like(is_blank))
    return chars


def format_grid(grid, blank: str = ".") -> str:
    """Format one grid as an 81-character string (``blank`` for empty cells)."""
    return _to_chars(as_grid(grid), blank).tobytes().decode("ascii")


def format_grids(grids, blank: str = ".") -> list[str]:
    """Format a ``[N, 81]`` batch as a list of 81-character strings."""
    text = _to_chars(as_batch(grids), blank).tobytes().decode("ascii")
    return [text[i : i + NUM_CELLS] for i in range(0, len(text), NUM_CELLS)]


def pretty_grid(grid) -> str:
    """Format one grid for terminals and logs: 9 rows with box separators.

    Example row: ``5 3 . | . 7 . | . . .``; bands are separated by ``------+-------+------``.
    :func:`parse_grid` reads the result back.
    """
    text = format_grid(grid)
    lines = []
    for r in range(GRID_SIZE):
        if r in (3, 6):
            lines.append("------+-------+------")
        row = text[r * 9 : r * 9 + 9]
        lines.append(" | ".join(" ".join(row[s : s + 3]) for s in (0, 3, 6)))
    return "\n".join(lines)


def grids_to_tokens(grids) -> np.ndarray:
    """Map grid values to model tokens: blank 0 -> 1 (``<blank>``), digit d -> d + 1.

    Any shape is accepted; values must be 0..9. Returns uint8 of the same shape.
    """
    arr = _checked_values(np.asarray(grids), "grids")
    return (arr + 1).astype(np.uint8)


def tokens_to_grids(tokens) -> np.ndarray:
    """Inverse of :func:`grids_to_tokens`: token 1 -> blank 0, token d + 1 -> digit d.

    Raises ValueError on the pad token 0 or a token above 10.
    """
    arr = np.asarray(tokens)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"tokens must be integers, got dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo <= PAD_TOKEN:
            kind = "the pad token 0" if lo == PAD_TOKEN else f"negative token {lo}"
            raise ValueError(f"tokens contain {kind}, which is not a grid cell")
        if hi >= VOCAB_SIZE:
            raise ValueError(f"tokens contain {hi}, outside the vocabulary 0..{VOCAB_SIZE - 1}")
    return (arr - 1).astype(np.uint8)
