"""Who may see and do what: every view goes through these."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from instances.models import Instance, Membership, Role, Team

# What request.user is. Views require a sign-in first; an anonymous user is a member of
# nothing here all the same.
Visitor = User | AnonymousUser


def visible_instances(user: Visitor) -> QuerySet[Instance]:
    if isinstance(user, AnonymousUser):
        return Instance.objects.none()
    return Instance.objects.filter(team__memberships__user=user).select_related("team")


def membership_for(user: Visitor, team: Team) -> Membership | None:
    if isinstance(user, AnonymousUser):
        return None
    return Membership.objects.filter(user=user, team=team).first()


def get_instance_for(
    user: Visitor, name: str, role: str = Role.VIEWER
) -> tuple[Instance, Membership]:
    """The instance and the user's membership; 404 outside the team, 403 below `role`."""
    instance = visible_instances(user).filter(name=name).first()
    if instance is None:
        raise Http404("No such instance")
    membership = membership_for(user, instance.team)
    if membership is None:
        raise Http404("No such instance")
    if not membership.allows(role):
        raise PermissionDenied(f"This needs the {role} role in team {instance.team.name}.")
    return instance, membership


def get_team_for(user: Visitor, team_id: int, role: str = Role.VIEWER) -> tuple[Team, Membership]:
    memberships = Membership.objects.none()
    if not isinstance(user, AnonymousUser):
        memberships = Membership.objects.filter(user=user, team_id=team_id)
    membership = memberships.select_related("team").first()
    if membership is None:
        raise Http404("No such team")
    if not membership.allows(role):
        raise PermissionDenied(f"This needs the {role} role in team {membership.team.name}.")
    return membership.team, membership


def admin_team_ids(user: Visitor) -> set[int]:
    """The teams whose admin pages (audit log, alerts) the user may open."""
    if isinstance(user, AnonymousUser):
        return set()
    admin = Membership.objects.filter(user=user, role=Role.ADMIN)
    return set(admin.values_list("team_id", flat=True))


def admin_teams(user: Visitor) -> QuerySet[Team]:
    """The teams `user` is an admin of: where they may add instances or move them to."""
    return Team.objects.filter(pk__in=admin_team_ids(user))
