import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from instances.audit import command_actor, memberships_of, record_membership_changes
from instances.models import Membership, Role, Team


class Command(BaseCommand):
    help = "Add a user to a team with a role (creating both when missing), or change the role."

    def add_arguments(self, parser) -> None:
        parser.add_argument("team")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the user's password from standard input (else it stays unusable)",
        )

    def handle(self, *args, team: str, username: str, role: str, password_stdin: bool, **_):
        password = self.read_password() if password_stdin else None
        User = get_user_model()
        with transaction.atomic():
            team_obj, team_created = Team.objects.get_or_create(name=team)
            before = memberships_of(team_obj)
            user = User.objects.filter(username=username).first()
            user_created = user is None
            if user is None:
                user = User(username=username)
            if password is not None:
                self.validate(password, user)
                user.set_password(password)
            elif user_created:
                user.set_unusable_password()
            user.save()
            membership = Membership.objects.update_or_create(
                user=user, team=team_obj, defaults={"role": role}
            )[0]
            record_membership_changes(
                team_obj, before, memberships_of(team_obj), actor_name=command_actor("add_member")
            )
        made = [w for w, new in (("team", team_created), ("user", user_created)) if new]
        self.stdout.write(
            f"{username} is {membership.role} of {team}"
            + (f" (created {' and '.join(made)})" if made else "")
        )

    def read_password(self) -> str:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("--password-stdin: no password on standard input", returncode=2)
        return password

    def validate(self, password: str, user) -> None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(
                f"password rejected: {' '.join(exc.messages)}", returncode=2
            ) from None
