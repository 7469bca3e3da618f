"""Fixtures shared by the test files."""
import pytest


@pytest.fixture(scope="module")
def digits():
    """The checked-in digits example module (generated/digits_mlp.py)."""
    from generated import digits_mlp
    return digits_mlp
