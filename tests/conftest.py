import pytest

from tests.receivers import *  # noqa: F403
from tests.servers import *  # noqa: F403


@pytest.fixture(autouse=True)
def _fresh_check_runs(monkeypatch):
    """Each test starts with no connection test running in this process: a stream a test
    left unread (Django's test client never closes those) would hold a slot or a claim."""
    from instances.checks import board, runs

    monkeypatch.setattr(runs, "SLOTS", runs.Slots())
    monkeypatch.setattr(board, "_LOCAL", board.LocalBoard())
