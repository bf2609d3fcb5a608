from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from instances.models import Engine, Instance, Membership, Role, Team

DEMO_TEAM = "Demo"
DEMO_USERS = {"demo": Role.ADMIN, "demo-viewer": Role.VIEWER}
DEMO_PASSWORD = "zektor-demo"

DEMO_INSTANCES = [
    {
        "name": "shop-db",
        "engine": Engine.POSTGRESQL,
        "tier": "standard",
        "host": "shop-db.eu-1.db.zektor.example",
        "port": 5432,
        "username": "shop",
        "database": "shop",
        "sslmode": "verify-full",
        "password": "demo-Pa$$w0rd'with\"quotes",
    },
    {
        "name": "shop-cache",
        "engine": Engine.VALKEY,
        "tier": "starter",
        "host": "shop-cache.eu-1.cache.zektor.example",
        "port": 6379,
        "username": "default",
        "password": "demo cache p@ss:word/#1",
    },
]


class Command(BaseCommand):
    help = "Load demo users and instances (development only) and print how to sign in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url: str, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("load_demo only runs with ZEKTOR_DEBUG=true", returncode=2)
        with transaction.atomic():
            team, _ = Team.objects.get_or_create(name=DEMO_TEAM)
            self.load_users(team)
            for spec in DEMO_INSTANCES:
                self.load_instance(team, dict(spec))
        self.stdout.write(
            f"\nZektor Portal: {url}\n"
            f"  sign in as 'demo' (admin) or 'demo-viewer' (viewer), password '{DEMO_PASSWORD}'\n"
        )

    def load_users(self, team: Team) -> None:
        User = get_user_model()
        for username, role in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = user.is_superuser = role == Role.ADMIN
                user.save()
            Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})

    def load_instance(self, team: Team, spec: dict) -> None:
        password = spec.pop("password")
        instance = Instance.objects.filter(name=spec["name"]).first()
        if instance is None:
            instance = Instance(team=team, **spec)
        else:
            for key, value in spec.items():
                setattr(instance, key, value)
        instance.password = password
        instance.save()
