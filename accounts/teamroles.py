"""ZEKTOR_OIDC_TEAM_ROLES: the provider's groups decide memberships of the mapped teams.

At every SSO sign-in each mapped team gets the highest role any of the user's groups maps
to, or no membership when none does; teams the mapping does not name are left alone.
Every grant, change and removal is audited.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest

from instances import audit
from instances.models import ROLE_RANK, Membership, Team


def groups_from(claims: dict, claim: str) -> set[str]:
    """The groups claim as a set of names (a list, or one space/comma-separated string)."""
    value = claims.get(claim) or []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return {str(group) for group in value if isinstance(group, str | int)}


def wanted_roles(groups: Iterable[str], mapping) -> dict[str, str | None]:
    """Team name -> the highest mapped role; None-valued teams are mapped but not granted."""
    wanted: dict[str, str | None] = {team: None for _, team, _ in mapping}
    for group, team, role in mapping:
        current = wanted[team]
        if group in groups and (current is None or ROLE_RANK[role] > ROLE_RANK[current]):
            wanted[team] = role
    return wanted


@transaction.atomic
def sync_memberships(request: HttpRequest | None, user: User, groups: set[str]) -> None:
    mapping = settings.ZEKTOR_OIDC.team_roles if settings.ZEKTOR_OIDC else ()
    for team_name, role in wanted_roles(groups, mapping).items():
        team = Team.objects.filter(name=team_name).first()
        if team is None and role is None:
            continue
        if team is None:
            team = Team.objects.create(name=team_name)
            audit.record("team_created", request=request, actor=user, team=team, source="sso")
        membership = Membership.objects.filter(user=user, team=team).first()
        _apply(request, user, team, membership, role)


def _apply(
    request: HttpRequest | None,
    user: User,
    team: Team,
    membership: Membership | None,
    role: str | None,
) -> None:
    """Make the user's membership of `team` have `role` (None: no membership), recorded like
    every other membership change (member_added / member_role_changed / member_removed)."""
    before = {user.pk: (user.get_username(), membership.role)} if membership else {}
    if membership is None and role is not None:
        Membership.objects.create(user=user, team=team, role=role)
    elif membership is not None and role is None:
        membership.delete()
    elif membership is not None and role is not None and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    after = {user.pk: (user.get_username(), role)} if role is not None else {}
    audit.record_membership_changes(team, before, after, request=request, source="sso")
