"""A team's members, for its admins: add, invite, change a role, remove; a member's page with
what they saw (offboarding). Superusers create teams. Thin over instances.members,
instances.invitations and instances.offboarding."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from instances import invitations, members, offboarding
from instances.access import get_team_for
from instances.models import AuditEvent, Invitation, Membership, Role, Team


class UserField(forms.CharField):
    """A username that must belong to an existing account."""

    def clean(self, value: str) -> User:
        username = super().clean(value).strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                f"No account is called {username!r}. Check the spelling, or invite them below."
            )
        return user


class AddMemberForm(forms.Form):
    username = UserField(label="Username", max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="E-mail (optional)",
        required=False,
        help_text="The link is e-mailed to this address when the portal's mail is set up.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)
    first_admin = UserField(label="First admin (username)", max_length=150)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        for validator in Team._meta.get_field("name").validators:
            validator(name)
        if Team.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(f"A team called {name!r} exists already: pick another.")
        return name


def _members_page(
    request: HttpRequest, team: Team, membership: Membership, status: int = 200, **context
) -> HttpResponse:
    context = {
        "team": team,
        "membership": membership,
        "members": members.members_of(team),
        "pending": invitations.pending(team),
        "former": members.former_members(team),
        "add_form": AddMemberForm(prefix="add"),
        "invite_form": InviteForm(prefix="invite"),
        "mail_configured": invitations.mail_configured(),
        **context,
    }
    return render(request, "teams/members.html", context, status=status)


@login_required
@require_GET
def member_list(request: HttpRequest, team_id: int) -> HttpResponse:
    team, membership = get_team_for(request.user, team_id, Role.ADMIN)
    return _members_page(request, team, membership)


@login_required
@require_POST
def member_add(request: HttpRequest, team_id: int) -> HttpResponse:
    team, membership = get_team_for(request.user, team_id, Role.ADMIN)
    form = AddMemberForm(request.POST, prefix="add")
    if form.is_valid():
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        try:
            members.add_member(team, user, role, request)
        except members.MembershipRefused as refused:
            form.add_error("username", str(refused))
        else:
            messages.success(request, f"{user.username} is now {role} of {team.name}.")
            return redirect("team-members", team.pk)
    return _members_page(request, team, membership, status=400, add_form=form)


@login_required
@require_POST
def member_invite(request: HttpRequest, team_id: int) -> HttpResponse:
    """Answers with the page itself: the link is in this response only."""
    team, membership = get_team_for(request.user, team_id, Role.ADMIN)
    form = InviteForm(request.POST, prefix="invite")
    if not form.is_valid():
        return _members_page(request, team, membership, status=400, invite_form=form)
    invitation, link, mailed = invitations.create(
        team, form.cleaned_data["role"], form.cleaned_data["email"], request
    )
    return _members_page(
        request, team, membership, invitation=invitation, invitation_link=link, mailed=mailed
    )


@login_required
@require_POST
def invitation_withdraw(request: HttpRequest, team_id: int, invitation_id: int) -> HttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    invitation = get_object_or_404(Invitation, pk=invitation_id, team=team)
    if invitations.withdraw(invitation, request):
        messages.success(request, "The invitation was withdrawn: its link no longer works.")
    else:
        messages.warning(request, "That invitation was already used or withdrawn.")
    return redirect("team-members", team.pk)


def _member_of(team: Team, user_id: int) -> tuple[User, Membership | None]:
    """A current or former member of `team` (former: their removal is in the audit log)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such member")
    current = Membership.objects.filter(team=team, user=user).first()
    removed = AuditEvent.objects.filter(
        team=team, action="member_removed", detail__member=user.username
    )
    if current is None and not removed.exists():
        raise Http404("No such member")
    return user, current


def _member_page(
    request: HttpRequest, team_id: int, user_id: int, template: str, status: int = 200, **context
) -> HttpResponse:
    team, membership = get_team_for(request.user, team_id, Role.ADMIN)
    person, current = _member_of(team, user_id)
    context = {
        "team": team,
        "membership": membership,
        "person": person,
        "current": current,
        "role_form": RoleForm(initial={"role": current.role if current else Role.MEMBER}),
        "exposures": offboarding.exposures(team, person),
        **context,
    }
    return render(request, template, context, status=status)


@login_required
@require_GET
def member_detail(request: HttpRequest, team_id: int, user_id: int) -> HttpResponse:
    return _member_page(request, team_id, user_id, "teams/member.html")


@login_required
@require_POST
def member_role(request: HttpRequest, team_id: int, user_id: int) -> HttpResponse:
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    _, current = _member_of(team, user_id)
    form = RoleForm(request.POST)
    try:
        if current is None:
            raise members.MembershipRefused(
                "They are no longer a member: add them again from the members page."
            )
        if not form.is_valid():
            raise members.MembershipRefused("Pick a role: viewer, member or admin.")
        members.change_role(current, form.cleaned_data["role"], request)
    except members.MembershipRefused as refused:
        return _member_page(
            request, team_id, user_id, "teams/member.html", 400, role_form=form, error=str(refused)
        )
    messages.success(request, f"{current.user.username} is now {current.role}.")
    if current.user == request.user and current.role != Role.ADMIN:
        return redirect("instance-list")  # the team's admin pages are closed to them now
    return redirect("team-member", team.pk, user_id)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, team_id: int, user_id: int) -> HttpResponse:
    """GET: what they saw and a confirmation; POST: remove, then their (former) page."""
    template = "teams/member_remove.html"
    if request.method == "GET":
        return _member_page(request, team_id, user_id, template)
    team, _ = get_team_for(request.user, team_id, Role.ADMIN)
    person, current = _member_of(team, user_id)
    if current is None:
        return redirect("team-member", team.pk, user_id)
    try:
        members.remove_member(current, request)
    except members.MembershipRefused as refused:
        return _member_page(request, team_id, user_id, template, 400, error=str(refused))
    if person == request.user:
        messages.success(request, f"You left {team.name}.")
        return redirect("instance-list")
    messages.success(
        request,
        f"{person.username} was removed from {team.name}. Rotate the passwords they saw below.",
    )
    return redirect("team-member", team.pk, user_id)


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers create teams.")
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        team = members.create_team(data["name"], data["first_admin"], request)
        messages.success(request, f"Team {team.name} created; {data['first_admin']} is its admin.")
        return redirect("instance-list")
    status = 400 if request.method == "POST" else 200
    return render(request, "teams/new.html", {"form": form}, status=status)
