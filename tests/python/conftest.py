"""Shared fixtures: a pool per test, and the interpreter the module is built for."""
import os
import sys

import pytest

import xfutures


@pytest.fixture
def pool():
    with xfutures.ThreadPoolExecutor(max_workers=4) as ex:
        yield ex


@pytest.fixture
def python():
    return os.environ.get("XF_PYTHON", sys.executable)
