"""Shared settings for the Python peer tests: the Cedar differential tests, and the
OAuth interop and attack tests that drive a real `portcullis serve` (see oauth_fixtures.py).

Environment:
  PORTCULLIS_BIN     the built `portcullis` executable
                     (default: <repo>/.build/debug/portcullis)
  CEDAR_DIFF_SEED    seed of the generated differential cases (default 20261123)
  CEDAR_DIFF_CASES   number of generated cases (default 400)
  CEDAR_DIFF_FAILURES  where failing cases are written
                     (default: <repo>/.build/cedar-diff-failures)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import cedar_gen  # noqa: E402

DEFAULT_CASES = 400


def portcullis_bin_path() -> Path:
    return Path(os.environ.get("PORTCULLIS_BIN", REPO / ".build" / "debug" / "portcullis"))


def diff_seed() -> int:
    return int(os.environ.get("CEDAR_DIFF_SEED", cedar_gen.DEFAULT_SEED))


def diff_cases() -> int:
    return int(os.environ.get("CEDAR_DIFF_CASES", DEFAULT_CASES))


def failures_dir() -> Path:
    return Path(os.environ.get("CEDAR_DIFF_FAILURES", REPO / ".build" / "cedar-diff-failures"))


def require_portcullis() -> Path:
    """The CLI under test; fails (never skips) the calling test when it is absent:
    CI builds it before running these tests."""
    path = portcullis_bin_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"portcullis executable not found at {path}. Build it first "
            f"(`swift build --product portcullis`) or point PORTCULLIS_BIN at it.",
            pytrace=False,
        )
    return path


def pytest_report_header(config):
    return (f"portcullis: {portcullis_bin_path()} (exists: {portcullis_bin_path().is_file()}); "
            f"cedar differential: seed {diff_seed()}, {diff_cases()} cases")
