"""stseg.names: the one rule for names that become paths."""

from __future__ import annotations

import pytest

from stseg.names import MAX_NAME_BYTES, name_problem


@pytest.mark.parametrize("name", ["twins", "MOSE_0001", "a b", "vidéo", "x" * MAX_NAME_BYTES, "twins.outcome"])
def test_names_that_can_be_paths(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name, why", [
    ("", "it is empty, '.' or '..'"), ("..", "it is empty, '.' or '..'"),
    ("../../data/JPEGImages", "it contains '/'"), ("a{b}", "it contains '{', '}'"), ("m=x", "it contains '='"),
    ("-rf", "it starts with '-'"), (".hidden", "it starts with '.'"), ("tab\there", "it contains '\\t'"),
    ("é" * 101, f"it is 202 bytes long (at most {MAX_NAME_BYTES})"),
])
def test_names_that_cannot(name, why):
    assert name_problem(name) == why
