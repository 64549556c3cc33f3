"""Shared helpers of the Python tests (run by `make test-python`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import numpy.typing as npt
import pytest

import ov_memory

#: The repository root (tests read tests/vectors, tests/data and build/).
ROOT = Path(__file__).resolve().parents[3]


def unit(i: int, dim: int = 8) -> npt.NDArray[np.float32]:
    """A deterministic test vector (the JS tests' `unit`)."""
    return np.array([math.sin((i + 1) * (j + 0.5)) for j in range(dim)], dtype=np.float32)


def code_of(f: Callable[[], object]) -> str:
    """The code of the OvMemoryError that `f` raises (fails if it raises none)."""
    with pytest.raises(ov_memory.OvMemoryError) as info:
        f()
    e = info.value
    assert str(e).startswith(f"{e.code}: "), str(e)
    assert isinstance(e.context, dict)
    assert e.code in ov_memory.ERROR_CODES
    return e.code
