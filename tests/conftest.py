"""Shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ORBITCTL = [sys.executable, "-m", "scheduler.cli"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
