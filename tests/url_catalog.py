"""Every URL pattern of the project, walked from the root resolver, with a way to fill it in."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    route: str  # the full pattern text: the key of expectation tables
    name: str | None
    params: tuple[str, ...]

    def path(self, values: Mapping[str, object]) -> str:
        """A concrete path: each parameter replaced by `values[parameter]`."""

        def fill(match: re.Match[str]) -> str:
            return str(values[match.group(1) or match.group(2)])

        return "/" + _PARAM.sub(fill, self.route.replace("^", "").replace("$", ""))


def _walk(patterns: list, prefix: str, namespace: str | None) -> Iterator[Route]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield Route(route, name, tuple(pattern.pattern.regex.groupindex))


def project_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns, "", None))


def sample_values(
    instance_name: str, team_id: int, user_id: int, rotation_uid: object = None
) -> dict[str, object]:
    """Values for every parameter the project's routes take (Django's admin included)."""
    return {
        "name": instance_name,
        "uid": rotation_uid or "00000000-0000-0000-0000-000000000000",
        "team_id": team_id,
        "user_id": user_id,
        "invitation_id": 1,
        "token": "no-such-invitation",
        "token_id": 0,
        "object_id": user_id,
        "id": user_id,
        "content_type_id": 1,
        "app_label": "auth",
        "url": "nowhere/",
        "provider_id": "sso",
        "key_id": 1,
    }
