"""Invitations to a team: a random token in a link, shown once and e-mailed when mail is
configured; only its SHA-256 is stored. A link works once, until it expires."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import smtplib

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from instances import members
from instances.audit import record
from instances.models import Invitation, Membership, Team

logger = logging.getLogger(__name__)

VALID_FOR = dt.timedelta(days=3)
TOKEN_BYTES = 32


class InvitationRefused(Exception):
    """The link cannot be used; the message says why and what to do."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mail_configured() -> bool:
    """Outgoing mail is on when ZEKTOR_EMAIL_URL set up a server (see zektor_portal/env.py)."""
    return getattr(settings, "ZEKTOR_EMAIL_SERVER", None) is not None


def create(team: Team, role: str, email: str, request: HttpRequest) -> tuple[Invitation, str, bool]:
    """The invitation, its link (the only time it exists) and whether it was e-mailed."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    inviter = request.user
    assert isinstance(inviter, User), "only signed-in admins invite"
    invitation = Invitation.objects.create(
        team=team,
        role=role,
        email=email,
        token_hash=token_hash(token),
        created_by=inviter,
        expires_at=timezone.now() + VALID_FOR,
    )
    link = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
    mailed = bool(email) and mail_configured() and _mail(invitation, link, inviter.username)
    record(
        "invitation_created",
        request=request,
        team=team,
        invitation=invitation.pk,
        role=role,
        email=email,
        mailed=mailed,
    )
    return invitation, link, mailed


def _mail(invitation: Invitation, link: str, inviter: str) -> bool:
    """Sends the link through Django's mail settings (ZEKTOR_EMAIL_URL); False when the
    server could not take it: the admin still has the link on the page."""
    try:
        send_mail(
            f"You are invited to {invitation.team.name} on Zektor Portal",
            invitation_text(invitation, link, inviter),
            None,  # DEFAULT_FROM_EMAIL: ZEKTOR_EMAIL_FROM
            [invitation.email],
        )
    except (smtplib.SMTPException, OSError) as error:
        logger.warning("invitation %s not e-mailed: %s", invitation.pk, type(error).__name__)
        return False
    return True


def invitation_text(invitation: Invitation, link: str, inviter: str) -> str:
    expires = timezone.localtime(invitation.expires_at)
    return (
        f"{inviter} invited you to join team {invitation.team.name} on Zektor Portal as "
        f"{invitation.get_role_display().lower()}.\n\n"
        f"Open this link to accept (it works once, until {expires:%Y-%m-%d %H:%M %Z}):\n"
        f"{link}\n\n"
        "If you did not expect this, ignore this message.\n"
    )


def find(token: str, request: HttpRequest) -> Invitation:
    """The usable invitation of `token`, or InvitationRefused. Opening an expired link
    records `invitation_expired` (once)."""
    invitation = (
        Invitation.objects.select_related("team").filter(token_hash=token_hash(token)).first()
    )
    if invitation is None:
        raise InvitationRefused("This invitation link is not valid. Check that it is complete.")
    if invitation.withdrawn_at is not None:
        raise InvitationRefused(
            "This invitation was withdrawn. Ask a team admin for a new one if you need it."
        )
    if invitation.used_at is not None:
        raise InvitationRefused(
            "This invitation was already used. Ask a team admin for a new one if you need it."
        )
    if invitation.expires_at <= timezone.now():
        if not invitation.expiry_recorded:
            Invitation.objects.filter(pk=invitation.pk).update(expiry_recorded=True)
            team = invitation.team
            record("invitation_expired", request=request, team=team, invitation=invitation.pk)
        raise InvitationRefused(
            "This invitation has expired. Ask a team admin of "
            f"{invitation.team.name} to invite you again."
        )
    return invitation


def pending(team: Team) -> QuerySet[Invitation]:
    """The team's invitations that can still be used."""
    open_ones = team.invitations.filter(used_at__isnull=True, withdrawn_at__isnull=True)
    return open_ones.filter(expires_at__gt=timezone.now()).select_related("created_by")


def withdraw(invitation: Invitation, request: HttpRequest) -> bool:
    """Makes an unused link useless; False if it was used or withdrawn meanwhile."""
    withdrawn = Invitation.objects.filter(
        pk=invitation.pk, used_at__isnull=True, withdrawn_at__isnull=True
    ).update(withdrawn_at=timezone.now())
    if withdrawn:
        record(
            "invitation_withdrawn", request=request, team=invitation.team, invitation=invitation.pk
        )
    return bool(withdrawn)


def accept(invitation: Invitation, user: User, request: HttpRequest) -> Membership:
    """Makes `user` a member with the invitation's role; the link is used up."""
    with transaction.atomic():
        # Only one request can use the link: the row is claimed before anything else.
        claimed = Invitation.objects.filter(
            pk=invitation.pk, used_at__isnull=True, withdrawn_at__isnull=True
        ).update(used_at=timezone.now(), used_by=user)
        if not claimed:
            raise InvitationRefused("This invitation was already used.")
        membership = Membership.objects.filter(team=invitation.team, user=user).first()
        if membership is None:
            membership = members.add_member(invitation.team, user, invitation.role, request)
        record(
            "invitation_used",
            request=request,
            actor=user,
            team=invitation.team,
            invitation=invitation.pk,
            member=user.username,
            role=membership.role,
        )
    return membership
