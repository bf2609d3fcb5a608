"""The interface every engine module implements, and the instance as an engine sees it."""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from instances import outbound
from instances.rotation.errors import ServerUnavailable

if TYPE_CHECKING:
    from instances.checks.report import Outcome
    from instances.checks.session import Session


@dataclass(frozen=True)
class Target:
    """What it takes to contact one instance with one password (a check, a rotation step)."""

    name: str
    engine: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    database: str = ""
    sslmode: str = "require"
    tls: bool = True
    ca_cert: str = ""
    allow_md5: bool = False
    status: str = "active"
    tier: str = "standard"
    tier_max_connections: int | None = None

    def with_password(self, password: str) -> Target:
        return replace(self, password=password)


class Engine(ABC):
    """One database engine: its facts, the check steps it adds to resolve and tcp, and the
    password changes a rotation makes. Rotation methods raise ``rotation.errors`` types."""

    name: ClassVar[str]
    label: ClassVar[str]
    default_port: ClassVar[int]
    default_username: ClassVar[str | None]  # None: an instance must name its user
    has_database: ClassVar[bool]
    # Server setting that caps connections, and what the limits step calls them.
    limit_setting: ClassVar[str]
    connections_word: ClassVar[str]
    # Connections kept back from applications (superuser_reserved_connections), and the
    # largest pool a snippet suggests per process.
    reserved_connections: ClassVar[int]
    max_pool_size: ClassVar[int]
    # Folder of the engine's page fragments (resilience, tls, over_limit, rotation_notice).
    templates: ClassVar[str]
    # How the engine applies a new password, for the rotation page (may be empty).
    password_change_note: ClassVar[str]
    # Whether old and new password both log in during a rotation's grace period.
    dual_passwords: ClassVar[bool]

    # ------------------------------------------------------------------ TLS facts

    @abstractmethod
    def uses_tls(self, target: Target) -> bool: ...

    @abstractmethod
    def verifies_chain(self, target: Target) -> bool:
        """Whether a client configured like this instance rejects an untrusted chain."""

    @abstractmethod
    def verifies_host(self, target: Target) -> bool: ...

    @abstractmethod
    def start_tls(self, sock: socket.socket) -> None:
        """Whatever the protocol sends on the plain socket before the TLS handshake."""

    # ---------------------------------------------------------------- check steps

    @abstractmethod
    def tls_step(self, session: Session) -> Outcome: ...

    @abstractmethod
    def auth(self, session: Session) -> Outcome: ...

    @abstractmethod
    def query(self, session: Session) -> Outcome:
        """Run a query and record the server facts (version, connections, limit)."""

    # ------------------------------------------------------------------ passwords

    @abstractmethod
    def logs_in(self, target: Target) -> bool:
        """A fresh login with ``target.password`` works (LoginRefused means False)."""

    @abstractmethod
    def set_password(self, target: Target, new: str) -> list[str]:
        """Logged in with ``target.password``, make ``new`` log in (beside the current one
        when ``dual_passwords``). Idempotent; returns warnings."""

    @abstractmethod
    def retire_password(self, target: Target, old: str) -> list[str]:
        """Logged in with ``target.password``, make ``old`` stop logging in."""

    @abstractmethod
    def restore_password(self, target: Target, old: str, pending: str) -> list[str]:
        """Undo a rotation: ``old`` logs in again, ``pending`` no longer."""

    @abstractmethod
    def connected_clients(self, target: Target) -> dict[str, Any]:
        """Who is connected as the instance user now (a rotation's preview)."""


def first_vetted_address(target: Target) -> str:
    """Where a rotation step connects: the first vetted address; ServerUnavailable if none."""
    try:
        return outbound.vetted_addresses(target.host, target.port)[0]
    except outbound.DeniedAddress as exc:
        raise ServerUnavailable(f"Not contacted: {exc}.") from None
    except (OSError, UnicodeError) as exc:
        raise ServerUnavailable(f"Could not look up {target.host}: {exc}") from None
