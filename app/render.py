"""HTML of the solver page's grids: givens, filled cells, rule conflicts and changed cells.

Styles are inline, so the grid looks the same in any Gradio theme and in a saved page.
"""

from __future__ import annotations

import html

import numpy as np

GIVEN = "background:#e8e8e8;color:#111;font-weight:700;"
FILLED = "background:#fff;color:#1d4ed8;"
CONFLICT = "background:#fecaca;"
CHANGED = "background:#fef08a;"
WRONG_GIVEN = "background:#fecaca;text-decoration:line-through;"
CELL = (
    "width:2.1em;height:2.1em;text-align:center;vertical-align:middle;font-size:1.15em;"
    "font-family:ui-monospace,monospace;border:1px solid #bbb;padding:0;"
)
THICK = "2px solid #333"


def _cell_style(row: int, col: int) -> str:
    style = CELL
    if row % 3 == 0:
        style += f"border-top:{THICK};"
    if col % 3 == 0:
        style += f"border-left:{THICK};"
    if row == 8:
        style += f"border-bottom:{THICK};"
    if col == 8:
        style += f"border-right:{THICK};"
    return style


def grid_html(
    digits: np.ndarray,
    puzzle: np.ndarray,
    *,
    conflicts: np.ndarray | None = None,
    changed: np.ndarray | None = None,
    caption: str = "",
    element_id: str = "",
) -> str:
    """Render a grid as an HTML table.

    Args:
        digits: ``[81]`` values shown, 0 for an empty cell.
        puzzle: ``[81]`` the puzzle; its non-zero cells are givens (grey, bold).
        conflicts: ``[81]`` bool, cells whose digit repeats in a row, column or box (red).
        changed: ``[81]`` bool, cells that changed since the previous step (yellow).
        caption: Text above the grid.
        element_id: ``id`` of the table, for tests and the browser check.
    """
    digits = np.asarray(digits).reshape(81)
    puzzle = np.asarray(puzzle).reshape(81)
    conflicts = np.zeros(81, bool) if conflicts is None else np.asarray(conflicts, bool)
    changed = np.zeros(81, bool) if changed is None else np.asarray(changed, bool)
    rows = []
    for row in range(9):
        cells = []
        for col in range(9):
            index = row * 9 + col
            value, given = int(digits[index]), int(puzzle[index])
            style = _cell_style(row, col)
            kind = "given" if given else "filled"
            if given and value and value != given:
                style += WRONG_GIVEN
                kind = "changed-given"
            else:
                style += GIVEN if given else FILLED
            if conflicts[index]:
                style += CONFLICT
                kind += " conflict"
            if changed[index]:
                style += CHANGED
                kind += " changed"
            text = str(value) if value else ""
            cells.append(f'<td class="{kind}" style="{style}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    table_id = f' id="{html.escape(element_id)}"' if element_id else ""
    caption_html = (
        f'<caption style="caption-side:top;padding:4px;font-weight:600">'
        f"{html.escape(caption)}</caption>"
        if caption
        else ""
    )
    return (
        f'<table{table_id} class="sudoku" style="border-collapse:collapse;margin:4px auto;">'
        f"{caption_html}<tbody>{''.join(rows)}</tbody></table>"
    )


LEGEND = (
    '<div style="font-size:0.85em;text-align:center;margin-top:4px">'
    f'<span style="{GIVEN}padding:0 6px">given</span> '
    f'<span style="{FILLED}padding:0 6px;border:1px solid #bbb">filled by the model</span> '
    f'<span style="{CONFLICT}padding:0 6px">breaks a rule</span> '
    f'<span style="{WRONG_GIVEN}padding:0 6px">given changed by the model</span> '
    f'<span style="{CHANGED}padding:0 6px">changed in this step</span>'
    "</div>"
)


def message_html(text: str) -> str:
    """A plain boxed message in place of a grid."""
    return (
        '<div style="padding:12px;border:1px solid #ccc;border-radius:6px;text-align:center">'
        f"{html.escape(text)}</div>"
    )
