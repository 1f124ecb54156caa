"""Suite-wide isolation: what one test's URLs taught the masker must not mask another test's text."""

import pytest

from segflow.engine.masking import SECRETS


@pytest.fixture(autouse=True)
def _fresh_secrets(monkeypatch):
    monkeypatch.setattr(SECRETS, "_known", set())
