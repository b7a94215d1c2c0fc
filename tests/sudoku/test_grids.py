"""Parsing, formatting and the token map of trm_pipeline.sudoku.grids."""

import csv
from pathlib import Path

import numpy as np
import pytest

from trm_pipeline.sudoku import (
    BLANK_TOKEN,
    GRID_SIZE,
    NUM_CELLS,
    PAD_TOKEN,
    TOKEN_MAP,
    VOCAB_SIZE,
    format_grid,
    format_grids,
    grids_to_tokens,
    parse_grid,
    parse_grids,
    pretty_grid,
    tokens_to_grids,
)

EXTERNAL_CSV = Path(__file__).resolve().parents[2] / "../shared/data/external_generated_5000.csv"


@pytest.fixture(scope="module")
def external_rows() -> list[dict[str, str]]:
    if not EXTERNAL_CSV.is_file():
        pytest.skip(f"external puzzle file missing: {EXTERNAL_CSV}")
    with EXTERNAL_CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def test_constants_and_token_map():
    assert (GRID_SIZE, NUM_CELLS, PAD_TOKEN, BLANK_TOKEN, VOCAB_SIZE) == (9, 81, 0, 1, 11)
    expected = {"<pad>": 0, "<blank>": 1} | {str(d): d + 1 for d in range(1, 10)}
    assert expected == TOKEN_MAP
    assert sorted(TOKEN_MAP.values()) == list(range(VOCAB_SIZE))


def test_parse_grid_real_rows(external_rows):
    for row in external_rows[:50]:
        q = parse_grid(row["question"])
        a = parse_grid(row["answer"])
        assert q.dtype == np.uint8
        assert q.shape == (81,)
        assert int((q > 0).sum()) == sum(ch != "." for ch in row["question"])
        assert a.min() >= 1
        assert a.max() <= 9
        assert format_grid(q) == row["question"]
        assert format_grid(a) == row["answer"]


def test_parse_grid_values_and_zero_blanks():
    text = "".join(str((r * 3 + r // 3 + c) % 9 + 1) for r in range(9) for c in range(9))
    grid = parse_grid(text)
    assert grid[0] == 1
    assert grid[9] == 4
    assert grid[80] == int(text[-1])
    with_zeros = "0" + text[1:]
    with_dots = "." + text[1:]
    assert np.array_equal(parse_grid(with_zeros), parse_grid(with_dots))
    assert parse_grid(with_zeros)[0] == 0


def test_pretty_grid_round_trip(external_rows):
    q = parse_grid(external_rows[0]["question"])
    pretty = pretty_grid(q)
    lines = pretty.splitlines()
    assert len(lines) == 11  # 9 rows + 2 band separators
    assert lines[3] == lines[7] == "------+-------+------"
    assert lines[0].count("|") == 2
    assert np.array_equal(parse_grid(pretty), q)
    assert np.array_equal(parse_grid(pretty_grid(q.reshape(9, 9))), q)


def test_format_accepts_9x9_and_custom_blank(external_rows):
    q = parse_grid(external_rows[1]["question"])
    assert format_grid(q.reshape(9, 9)) == format_grid(q)
    zeros = format_grid(q, blank="0")
    assert zeros == external_rows[1]["question"].replace(".", "0")
    assert np.array_equal(parse_grid(zeros), q)
    assert format_grids(q[None], blank="_")[0] == external_rows[1]["question"].replace(".", "_")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1" * 80, "exactly 81 cells, got 80"),
        ("1" * 82, "exactly 81 cells, got 82"),
        ("", "exactly 81 cells, got 0"),
        ("1" * 10 + "x" + "1" * 70, "invalid character 'x' at position 11"),
        ("a" + "1" * 80, "invalid character 'a' at position 1"),
        ("1 2\n" + "A" + "1" * 78, "invalid character 'A' at position 5"),
        ("é" + "." * 80, "invalid character 'é' at position 1"),
    ],
)
def test_parse_grid_errors(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_grid(text)
    if "invalid character" in message:
        assert "'1'-'9'" in str(info.value)  # says what is allowed


def test_parse_grid_rejects_non_str():
    with pytest.raises(TypeError):
        parse_grid(b"." * 81)


def test_parse_grids_matches_parse_grid(external_rows):
    texts = [r["question"] for r in external_rows]
    batch = parse_grids(texts)
    assert batch.shape == (len(texts), 81)
    assert batch.dtype == np.uint8
    for i in (0, 1, 1234, len(texts) - 1):
        assert np.array_equal(batch[i], parse_grid(texts[i]))
    assert format_grids(batch) == texts
    answers = parse_grids(r["answer"] for r in external_rows)  # any iterable
    assert (answers > 0).all()


def test_parse_grids_mixed_layouts(external_rows):
    q0 = parse_grid(external_rows[0]["question"])
    texts = [
        pretty_grid(q0),
        external_rows[1]["question"],
        external_rows[2]["question"].replace(".", "0"),
    ]
    batch = parse_grids(texts)
    assert np.array_equal(batch[0], q0)
    assert format_grids(batch[1:]) == [r["question"] for r in external_rows[1:3]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1" * 80, r"row 2: a grid needs exactly 81 cells, got 80"),
        ("1" * 40 + "?" + "1" * 40, r"row 2: invalid character '\?' at position 41"),
        ("ü" * 81, r"row 2: invalid character 'ü' at position 1"),
    ],
)
def test_parse_grids_errors_name_the_row(external_rows, bad, message):
    texts = [external_rows[0]["question"], external_rows[1]["question"], bad]
    with pytest.raises(ValueError, match=message):
        parse_grids(texts)


def test_parse_grids_type_errors():
    with pytest.raises(TypeError, match="row 1"):
        parse_grids(["." * 81, 5])
    with pytest.raises(TypeError):
        parse_grids("." * 81)  # one string is not a sequence of grids
    assert parse_grids([]).shape == (0, 81)


def test_parse_grids_bulk(external_rows):
    # Speed is measured in benchmarks/bench_data.py; this checks the bulk path's output.
    texts = [r["question"] for r in external_rows] * 200  # 1,000,000 strings
    batch = parse_grids(texts)
    assert batch.shape == (1_000_000, 81)
    assert np.array_equal(batch[5000 * 7 + 3], parse_grid(texts[3]))


def test_format_errors():
    with pytest.raises(ValueError, match="shape"):
        format_grid(np.zeros(80, dtype=np.uint8))
    with pytest.raises(ValueError, match="found 10"):
        format_grid(np.full(81, 10, dtype=np.uint8))
    with pytest.raises(ValueError, match="found -1"):
        format_grid(np.full(81, -1))
    with pytest.raises(TypeError, match="integers"):
        format_grid(np.zeros(81, dtype=np.float32))
    with pytest.raises(ValueError, match="blank"):
        format_grid(np.zeros(81, dtype=np.uint8), blank="..")
    with pytest.raises(ValueError, match="shape"):
        format_grids(np.zeros((2, 80), dtype=np.uint8))


def test_tokens_round_trip(external_rows):
    grids = parse_grids([r["question"] for r in external_rows[:100]])
    tokens = grids_to_tokens(grids)
    assert tokens.dtype == np.uint8
    assert tokens.shape == grids.shape
    assert np.array_equal(tokens[grids == 0], np.full(int((grids == 0).sum()), BLANK_TOKEN))
    filled = grids > 0
    assert np.array_equal(tokens[filled], grids[filled] + 1)
    assert tokens.min() == BLANK_TOKEN
    assert tokens.max() <= 10
    assert np.array_equal(tokens_to_grids(tokens), grids)
    for text, token in TOKEN_MAP.items():
        if text.isdigit():
            assert grids_to_tokens(np.array([int(text)]))[0] == token
    assert grids_to_tokens(np.array([0]))[0] == TOKEN_MAP["<blank>"]


def test_tokens_to_grids_errors():
    with pytest.raises(ValueError, match="pad"):
        tokens_to_grids(np.array([1, 2, PAD_TOKEN], dtype=np.uint8))
    with pytest.raises(ValueError, match="11"):
        tokens_to_grids(np.array([1, 11]))
    with pytest.raises(ValueError):
        grids_to_tokens(np.array([10]))
    assert tokens_to_grids(np.array([[1, 10]])).tolist() == [[0, 9]]
