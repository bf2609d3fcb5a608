"""Step ``limits``: the server's connection limit and use, against the instance's tier."""

from __future__ import annotations

from instances.checks import hints
from instances.checks.report import Outcome
from instances.checks.session import Session

NEAR_LIMIT = 0.8


def limits(session: Session) -> Outcome:
    target, server = session.target, session.server
    assert server is not None
    used, limit, tier_limit = (
        server.connections,
        server.max_connections,
        target.tier_max_connections,
    )
    word = session.engine.connections_word
    if limit is None:
        return Outcome.ok(f"{used} {word} in use; the server does not show its limit.")
    usage = f"{used} of {limit} {word} in use"
    problems: list[tuple[str, str]] = []
    if used is not None and used >= NEAR_LIMIT * limit:
        problems.append((f"{usage} ({used * 100 // limit} %): close to the limit.", hints.POOL))
    if tier_limit is not None and limit != tier_limit:
        problems.append(
            (
                f"The server allows {limit} {word}, the {target.tier} tier {tier_limit}.",
                hints.TIER_MISMATCH,
            )
        )
    if problems:
        return Outcome.warn(" ".join(m for m, _ in problems), " ".join(h for _, h in problems))
    return Outcome.ok(f"{usage}, as the {target.tier} tier allows.")
