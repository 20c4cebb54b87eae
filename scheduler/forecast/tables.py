"""Helpers for result tables: frozen dataclasses whose fields are parallel numpy arrays."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def concatenate_tables(cls: type[T], tables: Sequence[T]) -> T:
    """Join tables field by field; with none, an empty table (IntArray fields as int64)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for f in fields:
        if tables:
            values[f.name] = np.concatenate([getattr(t, f.name) for t in tables])
        else:
            int_field = "IntArray" in str(f.type)
            values[f.name] = np.zeros(0, dtype=np.int64 if int_field else np.float64)
    return cls(**values)
