"""Build the typed settings dataclasses from the plain mappings that Kedro parameters are."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

SettingsT = TypeVar("SettingsT")


def dataclass_from_mapping(
    cls: type[SettingsT], values: Mapping[str, Any], where: str
) -> SettingsT:
    """Return ``cls(**values)``, raising ``ValueError`` for keys that ``cls`` does not define.

    ``where`` is the parameter path shown in the message, such as ``training``.
    """
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} under {where}; valid keys are {sorted(names)}.")
    return cls(**dict(values))
