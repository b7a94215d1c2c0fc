"""Reading and validating puzzle CSV files: every bad input gets a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trm_pipeline.dataset import InvalidPuzzleError, read_puzzle_csv, validate_puzzle_table

HEADER = "source,question,answer,rating"
QUESTION = "..89....5.....8..69...573.81.........57....6.68...3..1.96.4.7..731.........5....."
ANSWER = "318962475475138296962457318143695827257814963689723541596341782731289654824576139"


def write_csv(folder: Path, rows: list[str], header: str = HEADER) -> Path:
    path = folder / "puzzles.csv"
    path.write_text("\n".join([header, *rows]) + "\n" if header else "\n".join(rows))
    return path


def validate(path: Path, on_invalid: str = "fail"):
    return validate_puzzle_table(read_puzzle_csv(path), on_invalid=on_invalid)


def test_valid_rows_parse(tmp_path):
    puzzles = validate(write_csv(tmp_path, [f"a,{QUESTION},{ANSWER},87"] * 3))
    assert puzzles["question"].shape == (3, 81)
    assert puzzles["question"][0, :3].tolist() == [0, 0, 8]
    assert puzzles["answer"][0, :3].tolist() == [3, 1, 8]
    assert puzzles["rating"].tolist() == [87, 87, 87]


def test_zero_blanks_parse_like_dots(tmp_path):
    puzzles = validate(write_csv(tmp_path, [f"a,{QUESTION.replace('.', '0')},{ANSWER},1"]))
    assert (puzzles["question"][0] == 0).sum() == QUESTION.count(".")


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    [
        (QUESTION[:80], ANSWER, r"line 3: column 'question' has 80 characters"),
        (QUESTION[:5] + "x" + QUESTION[6:], ANSWER, r"line 3: column 'question'.*'x' at pos"),
        (QUESTION, ANSWER[:40] + "." + ANSWER[41:], r"line 3: column 'answer'.*'\.' at pos"),
        (QUESTION, ANSWER[1:] + ANSWER[0], r"line 3: column 'answer' breaks the Sudoku rules"),
    ],
    ids=["short-row", "letter", "blank-in-answer", "rule-break"],
)
def test_bad_row_names_line_and_column(tmp_path, question, answer, message):
    path = write_csv(tmp_path, [f"a,{QUESTION},{ANSWER},1", f"a,{question},{answer},1"])
    with pytest.raises(InvalidPuzzleError, match=message) as error:
        validate(path)
    assert "data.on_invalid: skip" in str(error.value)
    assert str(path) in str(error.value)


def test_changed_given_is_reported(tmp_path):
    # Relabelling digits 1 <-> 2 keeps the answer a valid grid but changes given 1s and 2s.
    swapped = ANSWER.translate(str.maketrans("12", "21"))
    path = write_csv(tmp_path, [f"a,{QUESTION},{swapped},1"])
    with pytest.raises(InvalidPuzzleError, match=r"line 2: column 'answer' changes a given"):
        validate(path)


def test_bad_rating_is_reported(tmp_path):
    path = write_csv(tmp_path, [f"a,{QUESTION},{ANSWER},hard"])
    with pytest.raises(InvalidPuzzleError, match=r"column 'rating' is 'hard'"):
        validate(path)


def test_skip_drops_bad_rows_and_logs(tmp_path, caplog):
    rows = [f"a,{QUESTION},{ANSWER},1", f"a,{QUESTION[:80]},{ANSWER},1", f"b,{QUESTION},{ANSWER},2"]
    puzzles = validate(write_csv(tmp_path, rows), on_invalid="skip")
    assert puzzles["source"].tolist() == ["a", "b"]
    assert "Dropped 1 invalid row(s) of 3" in caplog.text


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"empty.csv is empty"):
        read_puzzle_csv(path)


def test_header_only_file_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"no puzzle rows"):
        read_puzzle_csv(write_csv(tmp_path, []))


def test_missing_column_is_named(tmp_path):
    path = write_csv(tmp_path, [f"a,{QUESTION},1"], header="source,question,rating")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['answer'\]"):
        read_puzzle_csv(path)


def test_missing_file_names_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data.source: generated"):
        read_puzzle_csv(tmp_path / "nope.csv")


def test_unknown_on_invalid_value(tmp_path):
    with pytest.raises(ValueError, match=r"data.on_invalid is 'drop'"):
        validate(write_csv(tmp_path, [f"a,{QUESTION},{ANSWER},1"]), on_invalid="drop")


def test_external_file_validates(external_csv):
    puzzles = validate(external_csv)
    assert len(puzzles["rating"]) == 5000
    assert np.all((puzzles["question"] != 0).sum(axis=1) >= 17)
