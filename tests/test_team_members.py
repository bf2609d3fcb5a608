"""Team admins manage members in the portal: add, invite, change roles, remove, offboard;
superusers create teams. Every change is audited; other roles see nothing and change nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from instances import invitations
from instances.models import AuditEvent, Invitation, Membership, Role, Rotation, RotationState
from tests.base import BaseTestCase
from tests.servers import reserve_closed_port
from zektor_portal.env import EmailServer

LINK = re.compile(r'id="invitation-link" class="field-value">([^<]+)<')


class MembersTestCase(BaseTestCase):
    def setUp(self) -> None:
        self.client.force_login(self.admin)

    def members_url(self, name: str = "team-members", *args) -> str:
        return reverse(name, args=[self.alpha.pk, *args])

    def role_of(self, user: User) -> str | None:
        membership = Membership.objects.filter(team=self.alpha, user=user).first()
        return membership.role if membership else None

    def invite(self, **data) -> str:
        data = {"invite-role": "member", **data}
        response = self.client.post(self.members_url("team-invite"), data)
        self.assertEqual(response.status_code, 200)
        match = LINK.search(response.content.decode())
        assert match is not None
        return match.group(1)


class MemberListTests(MembersTestCase):
    def test_it_lists_members_and_roles_for_admins(self):
        response = self.client.get(self.members_url())
        self.assertContains(response, "bob")
        self.assertContains(response, "Viewer")
        self.assertNotContains(response, "bea")  # another team's admin
        self.assertNotContains(response, "<script>")

    def test_it_refuses_members_and_viewers_and_hides_the_team_from_outsiders(self):
        for user, status in ((self.member, 403), (self.viewer, 403), (self.outsider, 404)):
            self.client.force_login(user)
            self.assertEqual(self.client.get(self.members_url()).status_code, status)
            data = {"add-username": "bea", "add-role": "admin"}
            post = self.client.post(self.members_url("team-member-add"), data)
            self.assertEqual(post.status_code, status)
        self.assertIsNone(self.role_of(self.outsider))

    def test_it_links_the_pages_only_for_admins(self):
        self.assertContains(self.client.get(reverse("instance-list")), self.members_url())
        self.client.force_login(self.member)
        listing = self.client.get(reverse("instance-list"))
        self.assertNotContains(listing, self.members_url())
        self.assertNotContains(listing, reverse("instance-new", args=[self.alpha.pk]))
        settings = self.client.get(reverse("instance-settings", args=[self.pg.name]))
        self.assertNotContains(settings, reverse("instance-edit", args=[self.pg.name]))


class AddMemberTests(MembersTestCase):
    def test_it_adds_an_existing_user_with_a_role_and_audits_it(self):
        dora = User.objects.create_user("dora")
        response = self.client.post(
            self.members_url("team-member-add"), {"add-username": "dora", "add-role": "viewer"}
        )
        self.assertRedirects(response, self.members_url())
        self.assertEqual(self.role_of(dora), "viewer")
        event = AuditEvent.objects.get(action="member_added")
        self.assertEqual((event.actor, event.team), (self.admin, self.alpha))
        self.assertEqual(event.detail["member"], "dora")

    def test_it_says_what_to_fix_for_unknown_users_members_and_bad_roles(self):
        cases = [
            ({"add-username": "nobody", "add-role": "member"}, "No account is called"),
            ({"add-username": "bob", "add-role": "member"}, "already a member"),
            ({"add-username": "bea", "add-role": "owner"}, "Select a valid choice"),
            ({"add-username": "", "add-role": "member"}, "This field is required"),
        ]
        for data, message in cases:
            response = self.client.post(self.members_url("team-member-add"), data)
            self.assertContains(response, message, status_code=400)
        self.assertIsNone(self.role_of(self.outsider))
        self.assertFalse(AuditEvent.objects.filter(action="member_added").exists())


class RoleAndRemoveTests(MembersTestCase):
    def test_it_changes_a_role_and_audits_before_and_after(self):
        url = self.members_url("team-member-role", self.member.pk)
        response = self.client.post(url, {"role": "viewer"})
        self.assertRedirects(response, self.members_url("team-member", self.member.pk))
        self.assertEqual(self.role_of(self.member), "viewer")
        event = AuditEvent.objects.get(action="member_role_changed")
        self.assertEqual(event.detail["role"], {"before": "member", "after": "viewer"})

    def test_it_never_demotes_or_removes_the_last_admin(self):
        role = self.client.post(
            self.members_url("team-member-role", self.admin.pk), {"role": "member"}
        )
        self.assertContains(role, "last admin of Alpha", status_code=400)
        remove = self.client.post(self.members_url("team-member-remove", self.admin.pk))
        self.assertContains(remove, "last admin of Alpha", status_code=400)
        self.assertEqual(self.role_of(self.admin), "admin")
        self.assertFalse(AuditEvent.objects.filter(action__startswith="member_").exists())

    def test_it_lets_an_admin_step_down_once_there_is_another(self):
        Membership.objects.filter(user=self.member, team=self.alpha).update(role=Role.ADMIN)
        url = self.members_url("team-member-role", self.admin.pk)
        self.assertRedirects(self.client.post(url, {"role": "member"}), reverse("instance-list"))
        self.assertEqual(self.role_of(self.admin), "member")
        # Now a member: the team's admin pages are closed to them.
        self.assertEqual(self.client.get(self.members_url()).status_code, 403)

    def test_it_refuses_a_bad_role(self):
        url = self.members_url("team-member-role", self.member.pk)
        response = self.client.post(url, {"role": "root"})
        self.assertContains(response, "Pick a role", status_code=400)
        self.assertEqual(self.role_of(self.member), "member")

    def test_it_confirms_then_removes_a_member_who_then_gets_404(self):
        url = self.members_url("team-member-remove", self.member.pk)
        confirm = self.client.get(url)
        self.assertContains(confirm, "Remove bob from Alpha?")
        self.assertEqual(self.role_of(self.member), "member")  # GET changes nothing
        response = self.client.post(url)
        self.assertRedirects(response, self.members_url("team-member", self.member.pk))
        self.assertIsNone(self.role_of(self.member))
        event = AuditEvent.objects.get(action="member_removed")
        self.assertEqual(event.detail, {"member": "bob", "role": "member"})
        former = self.client.get(self.members_url("team-member", self.member.pk))
        self.assertContains(former, "no longer a member")
        self.client.force_login(self.member)
        self.assertEqual(self.client.get(f"/instances/{self.pg.name}/").status_code, 404)

    def test_it_shows_no_page_for_people_who_were_never_in_the_team(self):
        for user in (self.outsider, User(pk=9999)):
            url = self.members_url("team-member", user.pk)
            self.assertEqual(self.client.get(url).status_code, 404)


class InvitationTests(MembersTestCase):
    def test_it_shows_a_single_use_link_once_and_stores_only_its_hash(self):
        link = self.invite(**{"invite-role": "viewer"})
        token = link.rstrip("/").rsplit("/", 1)[1]
        invitation = Invitation.objects.get()
        self.assertEqual(invitation.token_hash, invitations.token_hash(token))
        self.assertNotIn(token, str(list(Invitation.objects.values())))
        self.assertNotContains(self.client.get(self.members_url()), token)
        event = AuditEvent.objects.get(action="invitation_created")
        self.assertNotIn(token, str(event.detail))
        self.assertEqual(len(mail.outbox), 0)  # mail is not configured

    def test_it_lets_a_new_person_set_a_password_and_land_on_the_team(self):
        link = self.invite(**{"invite-role": "viewer"})
        self.client.logout()
        page = self.client.get(link)
        self.assertContains(page, "Join Alpha")
        data = {"username": "dora", "password1": "long-enough-pass-99", "password2": "x"}
        mismatch = self.client.post(link, data)
        self.assertEqual(mismatch.status_code, 400)
        self.assertFalse(User.objects.filter(username="dora").exists())
        data["password2"] = data["password1"]
        response = self.client.post(link, data)
        self.assertRedirects(response, reverse("instance-list") + f"#team-{self.alpha.pk}")
        dora = User.objects.get(username="dora")
        self.assertEqual(self.role_of(dora), "viewer")
        self.assertContains(self.client.get(reverse("instance-list")), self.pg.name)
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        self.assertLessEqual({"invitation_used", "member_added"}, actions)
        # Single use: the same link again is refused, for anyone.
        self.client.logout()
        self.assertContains(self.client.get(link), "already used", status_code=404)

    def test_it_lets_someone_signed_in_join_as_themselves(self):
        link = self.invite()
        self.client.force_login(self.outsider)
        self.assertContains(self.client.get(link), "Join as bea")
        self.client.post(link)
        self.assertEqual(self.role_of(self.outsider), "member")

    def test_it_refuses_expired_and_unknown_links_and_records_the_expiry_once(self):
        link = self.invite()
        Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        self.client.logout()
        for _ in range(2):
            self.assertContains(self.client.get(link), "expired", status_code=404)
        data = {"username": "eve", "password1": "long-enough-pass-99", "password2": "x"}
        self.client.post(link, data | {"password2": data["password1"]})
        self.assertFalse(User.objects.filter(username="eve").exists())
        self.assertEqual(AuditEvent.objects.filter(action="invitation_expired").count(), 1)
        unknown = self.client.get(reverse("invitation-accept", args=["not-a-token"]))
        self.assertContains(unknown, "not valid", status_code=404)

    def test_it_refuses_a_bad_email_address(self):
        response = self.client.post(
            self.members_url("team-invite"),
            {"invite-role": "member", "invite-email": "not-an-address"},
        )
        self.assertContains(response, "Enter a valid email address", status_code=400)
        self.assertFalse(Invitation.objects.exists())


SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class InvitationMailTests(MembersTestCase):
    """Through a real SMTP server (aiosmtpd on loopback), as ZEKTOR_EMAIL_URL configures it."""

    @pytest.fixture(autouse=True)
    def _smtp(self, smtp_receiver):
        self.smtp = smtp_receiver

    def mail_settings(self, port: int):
        return override_settings(
            ZEKTOR_EMAIL_SERVER=EmailServer("127.0.0.1", port, "", "", "none"),
            EMAIL_BACKEND=SMTP_BACKEND,
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            DEFAULT_FROM_EMAIL="portal@zektor.test",
        )

    def test_it_emails_the_link_when_mail_is_configured(self):
        with self.mail_settings(self.smtp.port):
            link = self.invite(**{"invite-email": "dora@example.com"})
        [message] = self.smtp.messages
        self.assertEqual(self.smtp.envelopes, [("portal@zektor.test", ["dora@example.com"])])
        self.assertEqual(message["Subject"], "You are invited to Alpha on Zektor Portal")
        self.assertIn(link, message.get_content())
        self.assertTrue(AuditEvent.objects.get(action="invitation_created").detail["mailed"])

    def test_it_still_shows_the_link_when_the_mail_server_is_down(self):
        closed = reserve_closed_port()
        self.addCleanup(closed.close)
        with self.mail_settings(closed.getsockname()[1]):
            response = self.client.post(
                self.members_url("team-invite"),
                {"invite-role": "member", "invite-email": "dora@example.com"},
            )
        self.assertContains(response, "could not be e-mailed to dora@example.com")
        self.assertIsNotNone(LINK.search(response.content.decode()))
        self.assertFalse(AuditEvent.objects.get(action="invitation_created").detail["mailed"])


class OffboardingTests(MembersTestCase):
    def saw(self, instance, action: str = "reveal", user: User | None = None) -> AuditEvent:
        user = user or self.member
        return AuditEvent.objects.create(
            action=action, actor=user, actor_name=user.username, instance=instance, team=self.alpha
        )

    def test_it_shows_what_a_member_saw_per_instance_with_a_rotate_action(self):
        self.saw(self.pg)
        self.saw(self.pg, "copy")
        self.saw(self.cache, "env_download")
        AuditEvent.objects.create(
            action="reveal", actor=self.member, instance=self.pg, team=self.alpha, outcome="error"
        )
        page = self.client.get(self.members_url("team-member", self.member.pk))
        body = page.content.decode()
        self.assertIn("Revealed", body)
        self.assertIn("Copied", body)
        self.assertIn("Downloaded in .env", body)
        self.assertEqual(body.count("Seen since its last change"), 2)
        self.assertIn(reverse("rotation-start", args=[self.pg.name]), body)
        self.assertEqual(body.count("Revealed"), 1)  # the failed reveal handed out nothing

    def test_it_says_so_after_the_password_was_rotated(self):
        self.saw(self.pg)
        rotation = Rotation(instance=self.pg, actor=self.admin, state=RotationState.DONE)
        rotation.seal("pending_sealed", "new")
        rotation.seal("old_sealed", "old")
        rotation.save()
        AuditEvent.objects.create(action="rotation_promoted", instance=self.pg, team=self.alpha)
        page = self.client.get(self.members_url("team-member-remove", self.member.pk))
        self.assertContains(page, "Rotated")
        self.assertNotContains(page, "Seen since its last change")
        self.assertNotContains(page, reverse("rotation-start", args=[self.pg.name]))

    def test_it_counts_only_this_team_and_this_person(self):
        self.saw(self.pg, user=self.admin)
        page = self.client.get(self.members_url("team-member", self.member.pk))
        self.assertContains(page, "has not revealed, copied or downloaded")


class TeamCreationTests(BaseTestCase):
    def test_it_lets_a_superuser_create_a_team_with_its_first_admin(self):
        root = User.objects.create_superuser("root", password="x")
        self.client.force_login(root)
        self.assertEqual(self.client.get(reverse("team-create")).status_code, 200)
        response = self.client.post(
            reverse("team-create"), {"name": "Gamma", "first_admin": "charlie"}
        )
        self.assertRedirects(response, reverse("instance-list"))
        membership = Membership.objects.get(team__name="Gamma")
        self.assertEqual((membership.user, membership.role), (self.viewer, "admin"))
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
        self.assertEqual(actions, ["team_created", "member_added"])

    def test_it_says_what_to_fix_and_creates_nothing_on_bad_input(self):
        root = User.objects.create_superuser("root", password="x")
        self.client.force_login(root)
        cases = [
            ({"name": "alpha", "first_admin": "alice"}, "exists already"),
            ({"name": "Gamma", "first_admin": "nobody"}, "No account is called"),
            ({"name": "Gam\x1bma", "first_admin": "alice"}, "control character"),
            ({"name": "", "first_admin": "alice"}, "This field is required"),
        ]
        for data, message in cases:
            response = self.client.post(reverse("team-create"), data)
            self.assertContains(response, message, status_code=400)
        self.assertEqual(
            set(User.objects.get(username="alice").memberships.all()),
            {Membership.objects.get(user=self.admin)},
        )
        self.assertFalse(AuditEvent.objects.exists())

    def test_it_refuses_team_admins_who_are_not_superusers(self):
        self.client.force_login(self.admin)
        response = self.client.post(reverse("team-create"), {"name": "G", "first_admin": "bob"})
        self.assertEqual(response.status_code, 403)
        self.assertFalse(AuditEvent.objects.exists())


class WithdrawAndFormerMembersTests(MembersTestCase):
    def test_it_withdraws_an_open_invitation_whose_link_then_fails(self):
        link = self.invite()
        invitation = Invitation.objects.get()
        url = reverse("team-invitation-withdraw", args=[self.alpha.pk, invitation.pk])
        self.client.force_login(self.member)
        self.assertEqual(self.client.post(url).status_code, 403)
        self.client.force_login(self.admin)
        self.assertContains(self.client.get(self.members_url()), "Withdraw")
        self.assertRedirects(self.client.post(url), self.members_url())
        self.assertNotContains(self.client.get(self.members_url()), "Withdraw")
        self.client.logout()
        self.assertContains(self.client.get(link), "withdrawn", status_code=404)
        self.assertEqual(AuditEvent.objects.filter(action="invitation_withdrawn").count(), 1)

    def test_it_refuses_another_teams_invitation(self):
        self.client.force_login(self.outsider)
        self.client.post(reverse("team-invite", args=[self.beta.pk]), {"invite-role": "member"})
        invitation = Invitation.objects.get(team=self.beta)
        self.client.force_login(self.admin)
        url = reverse("team-invitation-withdraw", args=[self.alpha.pk, invitation.pk])
        self.assertEqual(self.client.post(url).status_code, 404)
        invitation.refresh_from_db()
        self.assertIsNone(invitation.withdrawn_at)

    def test_it_lists_former_members_until_they_return(self):
        self.client.post(self.members_url("team-member-remove", self.member.pk))
        former = self.members_url("team-member", self.member.pk)
        self.assertContains(self.client.get(self.members_url()), f'href="{former}"')
        data = {"add-username": "bob", "add-role": "viewer"}
        self.client.post(self.members_url("team-member-add"), data)
        self.assertNotContains(self.client.get(self.members_url()), "Former members")


class SingleSignOnInvitationTests(MembersTestCase):
    @override_settings(ZEKTOR_LOCAL_LOGIN=False)
    def test_it_offers_no_password_when_sign_in_is_sso_only(self):
        link = self.invite()
        self.client.logout()
        page = self.client.get(link)
        self.assertContains(page, "Sign in to join")
        self.assertNotContains(page, 'name="password1"')
        data = {"username": "eve", "password1": "long-enough-pass-99"}
        response = self.client.post(link, data | {"password2": data["password1"]})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(User.objects.filter(username="eve").exists())
