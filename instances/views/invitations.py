"""Accepting an invitation link: a new person picks a username and password; someone signed
in (with a password or SSO) joins as themselves. Either way they land on the team's
instances."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from instances import invitations
from instances.models import Invitation

PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitations.find(token, request)
    except invitations.InvitationRefused as refused:
        return render(request, "error.html", {"status": 404, "message": str(refused)}, status=404)
    signed_in = request.user.is_authenticated
    # With ZEKTOR_LOCAL_LOGIN=false (SSO only) nobody gets a password: sign in, then join.
    passwords = getattr(settings, "ZEKTOR_LOCAL_LOGIN", True)
    form: UserCreationForm | None = None
    if passwords and not signed_in:
        form = UserCreationForm(request.POST or None)
    if request.method == "POST" and (signed_in or (form is not None and form.is_valid())):
        return _join(request, invitation, form)
    context = {"invitation": invitation, "form": form, "token": token}
    status = 400 if request.method == "POST" else 200
    return render(request, "teams/invitation.html", context, status=status)


def _join(
    request: HttpRequest, invitation: Invitation, form: UserCreationForm | None
) -> HttpResponse:
    """The signed-in user joins, or the account of `form` is made (only if the link is
    still unused: one transaction) and signed in."""
    try:
        with transaction.atomic():
            user = form.save() if form is not None else request.user
            assert isinstance(user, User)
            membership = invitations.accept(invitation, user, request)
    except invitations.InvitationRefused as refused:
        return render(request, "error.html", {"status": 404, "message": str(refused)}, status=404)
    if form is not None:
        login(request, user, backend=PASSWORD_BACKEND)
    team = invitation.team
    messages.success(request, f"Welcome to {team.name}: you are {membership.get_role_display()}.")
    return redirect(reverse("instance-list") + f"#team-{team.pk}")
