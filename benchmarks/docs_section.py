"""Replace one named section of a Markdown file such as docs/benchmarks.md.

A section is the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. Each
benchmark script owns one section and rewrites only that one, so the other sections and the
text around them stay as they are.
"""

from __future__ import annotations

from pathlib import Path

from trm_pipeline.atomic import write_text_atomic

NEW_DOCUMENT = "# Benchmarks\n"


def section_markers(name: str) -> tuple[str, str]:
    """Return the start and end markers of the section ``name``.

    Raises ``ValueError`` for an empty name or one with whitespace or ``--``, because such a
    name would not give a well-formed HTML comment.
    """
    if not name or "--" in name or any(character.isspace() for character in name):
        raise ValueError(
            f"invalid section name {name!r}: use a non-empty name without whitespace or '--'"
        )
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(doc: Path, name: str, body: str) -> None:
    """Replace the section ``name`` of ``doc`` with ``body`` and write the file atomically.

    The section is replaced when its first start marker comes before its first end marker.
    Otherwise it is appended to the end of the file. A missing file is created with a
    ``# Benchmarks`` title.
    """
    start_marker, end_marker = section_markers(name)
    if start_marker in body or end_marker in body:
        raise ValueError(f"the body of section {name!r} contains one of its own markers")
    section = f"{start_marker}\n{body.rstrip()}\n{end_marker}"

    text = doc.read_text(encoding="utf-8") if doc.exists() else NEW_DOCUMENT
    start = text.find(start_marker)
    end = text.find(end_marker)
    if 0 <= start < end:
        text = text[:start] + section + text[end + len(end_marker) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"

    write_text_atomic(doc, text)
