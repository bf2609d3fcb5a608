"""One module per engine behind one interface (``base.Engine``); nothing outside this package
compares engine names. Adding an engine: a module with an ``Engine`` subclass, listed here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instances.engines.base import Engine, Target
from instances.engines.postgresql import POSTGRESQL
from instances.engines.valkey import VALKEY

if TYPE_CHECKING:
    from instances.models import Instance

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (POSTGRESQL, VALKEY)}

__all__ = ["ENGINES", "Engine", "Target", "engine_for", "target_for"]


def engine_for(instance_or_name: Instance | Target | str) -> Engine:
    """The engine of an instance, a target, or an engine name (KeyError for an unknown one)."""
    if isinstance(instance_or_name, str):
        return ENGINES[instance_or_name]
    return ENGINES[instance_or_name.engine]


def target_for(instance: Instance, password: str) -> Target:
    return Target(
        name=instance.name,
        engine=instance.engine,
        host=instance.host,
        port=instance.port,
        username=instance.username,
        password=password,
        database=instance.database,
        sslmode=instance.sslmode,
        tls=instance.tls,
        ca_cert=instance.ca_cert,
        allow_md5=instance.allow_md5,
        status=instance.status,
        tier=instance.tier,
        tier_max_connections=instance.limits.max_connections,
    )
