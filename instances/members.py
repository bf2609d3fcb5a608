"""A team's members and roles, changed by its admins in the portal: add an existing user,
change a role, remove someone. A team always keeps at least one admin; every change is
audited (member_added, member_role_changed, member_removed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from instances.audit import memberships_of, record, record_membership_changes
from instances.models import AuditEvent, Membership, Role, Team


class MembershipRefused(Exception):
    """A change that would break a rule; the message says which and what to do instead."""


def members_of(team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__username")


def former_members(team: Team, limit: int = 50) -> list[User]:
    """People removed from `team` (from the audit log) who are not members again, most
    recently removed first: their pages still show what they saw."""
    removed = AuditEvent.objects.filter(team=team, action="member_removed").order_by("-id")
    names = list(dict.fromkeys(event.detail.get("member") for event in removed[: limit * 4]))
    users = User.objects.filter(username__in=names).exclude(memberships__team=team)
    by_name = {user.username: user for user in users}
    return [by_name[name] for name in names if name in by_name][:limit]


@contextmanager
def _audited(team: Team, request: HttpRequest | None) -> Iterator[None]:
    """Records every membership change of `team` made inside it (none when it raises)."""
    before = memberships_of(team)
    yield
    record_membership_changes(team, before, memberships_of(team), request=request)


def add_member(team: Team, user: User, role: str, request: HttpRequest | None = None) -> Membership:
    if Membership.objects.filter(team=team, user=user).exists():
        raise MembershipRefused(
            f"{user.username} is already a member of {team.name}: change their role instead."
        )
    with transaction.atomic(), _audited(team, request):
        return Membership.objects.create(team=team, user=user, role=role)


def _refuse_losing_last_admin(membership: Membership, what: str) -> None:
    """Called inside a transaction: locks the team's admins so two admins demoting each other
    at once cannot leave the team with none."""
    if membership.role != Role.ADMIN:
        return
    admins = list(
        Membership.objects.select_for_update().filter(team=membership.team, role=Role.ADMIN)
    )
    if len(admins) <= 1:
        raise MembershipRefused(
            f"{membership.user.username} is the last admin of {membership.team.name} and "
            f"cannot be {what}: make someone else an admin first."
        )


def change_role(membership: Membership, role: str, request: HttpRequest | None = None) -> None:
    if role == membership.role:
        return
    with transaction.atomic(), _audited(membership.team, request):
        if role != Role.ADMIN:
            _refuse_losing_last_admin(membership, "demoted")
        membership.role = role
        membership.save(update_fields=["role"])


def remove_member(membership: Membership, request: HttpRequest | None = None) -> None:
    with transaction.atomic(), _audited(membership.team, request):
        _refuse_losing_last_admin(membership, "removed")
        membership.delete()


def create_team(name: str, first_admin: User, request: HttpRequest) -> Team:
    """A new team (superusers only, see the view) with its first admin."""
    with transaction.atomic():
        team = Team.objects.create(name=name)
        record("team_created", request=request, team=team, name=name, via="portal")
        add_member(team, first_admin, Role.ADMIN, request)
    return team
