"""Tier limits from the product documentation, and the pool sizes that fit them."""

from __future__ import annotations

from dataclasses import dataclass

from instances.engines import engine_for

TIERS = ("starter", "standard", "pro", "business")

# PostgreSQL max_connections and Valkey maxclients per tier.
CONNECTION_LIMITS: dict[str, dict[str, int]] = {
    "postgresql": {"starter": 25, "standard": 50, "pro": 100, "business": 200},
    "valkey": {"starter": 128, "standard": 256, "pro": 512, "business": 1024},
}

# How many application processes a pool size should leave room for.
ASSUMED_APP_PROCESSES = 4


@dataclass(frozen=True)
class TierLimits:
    engine: str
    tier: str
    max_connections: int
    pool_size: int
    processes_that_fit: int

    def needs_pooler(self, processes: int) -> bool:
        """True when `processes` pools of the recommended size exceed the limit (use PgBouncer)."""
        return processes > self.processes_that_fit


def limits_for(engine: str, tier: str) -> TierLimits:
    facts = engine_for(engine)
    limit = CONNECTION_LIMITS[engine][tier]
    usable = limit - facts.reserved_connections
    pool_size = max(2, min(facts.max_pool_size, usable // ASSUMED_APP_PROCESSES))
    return TierLimits(
        engine=engine,
        tier=tier,
        max_connections=limit,
        pool_size=pool_size,
        processes_that_fit=usable // pool_size,
    )


def limits_table(engine: str) -> list[TierLimits]:
    return [limits_for(engine, tier) for tier in TIERS]
