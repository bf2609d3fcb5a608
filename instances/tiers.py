"""Tier limits from the product documentation, and the pool sizes that fit them."""

from __future__ import annotations

from dataclasses import dataclass

TIERS = ("starter", "standard", "pro", "business")

# PostgreSQL max_connections and Valkey maxclients per tier.
CONNECTION_LIMITS: dict[str, dict[str, int]] = {
    "postgresql": {"starter": 25, "standard": 50, "pro": 100, "business": 200},
    "valkey": {"starter": 128, "standard": 256, "pro": 512, "business": 1024},
}

# Connections PostgreSQL keeps for superusers and the platform (superuser_reserved_connections).
RESERVED_CONNECTIONS = 3
# How many application processes a pool size should leave room for.
ASSUMED_APP_PROCESSES = 4
MAX_POOL_SIZE = 20


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
    limit = CONNECTION_LIMITS[engine][tier]
    usable = limit - RESERVED_CONNECTIONS if engine == "postgresql" else limit
    pool_size = max(2, min(MAX_POOL_SIZE, usable // ASSUMED_APP_PROCESSES))
    if engine == "postgresql":
        pool_size = min(pool_size, 10)
    return TierLimits(
        engine=engine,
        tier=tier,
        max_connections=limit,
        pool_size=pool_size,
        processes_that_fit=usable // pool_size,
    )


def limits_table(engine: str) -> list[TierLimits]:
    return [limits_for(engine, tier) for tier in TIERS]
