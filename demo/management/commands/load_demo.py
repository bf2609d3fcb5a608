from pathlib import Path

import trustme
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo import stack
from demo.servers.binaries import ServerUnavailable
from demo.servers.readiness import ServerStartError
from demo.servers.tls import LOCALHOST, ca_pem
from instances.engines import engine_for
from instances.models import Engine, Instance, Membership, Role, SslMode, Team
from instances.secrets import Purpose, SecretUnavailable, open_password

DEMO_TEAM = "Demo"
DEMO_USERS = {"demo": Role.ADMIN, "demo-viewer": Role.VIEWER}
DEMO_PASSWORD = "zektor-demo"
WRONG_PASSWORD = "not-the-demo-password"
SERVED_BY = {"demo-postgres": stack.POSTGRESQL, "demo-valkey": stack.VALKEY}


def demo_instances(ports: dict[str, int], ca: str) -> list[dict]:
    postgres = {
        "engine": Engine.POSTGRESQL,
        "tier": stack.DEMO_TIER,
        "host": LOCALHOST,
        "port": ports[stack.POSTGRESQL],
        "username": stack.PG_USER,
        "database": stack.PG_DATABASE,
        "sslmode": SslMode.VERIFY_FULL,
        "ca_cert": ca,
    }
    valkey = {
        "engine": Engine.VALKEY,
        "tier": stack.DEMO_TIER,
        "host": LOCALHOST,
        "port": ports[stack.VALKEY],
        "username": stack.VALKEY_USER,
        "tls": True,
        "ca_cert": ca,
    }
    return [
        {"name": "demo-postgres", **postgres},
        {"name": "demo-valkey", **valkey},
        {"name": "demo-wrong-password", **postgres},
    ]


class Command(BaseCommand):
    help = (
        "Start the local demo servers (TLS PostgreSQL and Valkey, demo CA), load demo users "
        "and instances, and print how to sign in. Development only; --stop stops the servers, "
        "--remove also deletes their data."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument(
            "--data-dir", type=Path, help="where the demo servers live (default: .data/demo)"
        )
        parser.add_argument("--stop", action="store_true", help="stop the demo servers and exit")
        parser.add_argument(
            "--remove", action="store_true", help="stop the demo servers, delete their data, exit"
        )

    def handle(
        self, *args, url: str, data_dir: Path | None, stop: bool, remove: bool, **options
    ) -> None:
        if not settings.DEBUG:
            raise CommandError("load_demo only runs with ZEKTOR_DEBUG=true", returncode=2)
        root = data_dir or Path(settings.DATA_DIR) / "demo"
        if stop or remove:
            self.stop_servers(root, remove)
            return
        ca = stack.demo_ca(root)
        passwords = {name: self.password_of(name) for name in SERVED_BY}
        passwords["demo-wrong-password"] = WRONG_PASSWORD
        self.stdout.write(f"Demo servers (data in {root}; stop them with: make stop-demo)")
        ports = {
            engine: self.start_server(root, ca, engine, passwords[name])
            for name, engine in SERVED_BY.items()
        }
        with transaction.atomic():
            team, _ = Team.objects.get_or_create(name=DEMO_TEAM)
            self.load_users(team)
            for spec in demo_instances(ports, ca_pem(ca)):
                self.load_instance(team, spec, passwords[spec["name"]])
        self.stdout.write(
            "Demo instances: demo-postgres, demo-valkey, and demo-wrong-password (the demo "
            "PostgreSQL with a wrong stored password: its connection test fails at login)\n"
            f"\nZektor Portal: {url}\n"
            f"  sign in as 'demo' (admin) or 'demo-viewer' (viewer), password '{DEMO_PASSWORD}'\n"
        )

    def password_of(self, name: str) -> str:
        """The stored password of a demo instance, so running servers keep theirs."""
        instance = Instance.objects.filter(name=name).first()
        if instance is not None:
            try:
                return open_password(instance, Purpose.DEMO)
            except SecretUnavailable:
                pass
        return stack.new_password()

    def start_server(self, root: Path, ca: trustme.CA, engine: str, password: str) -> int:
        """Start (or reuse) one demo server and return its port; on failure say why in one
        line and return the port it would have, so the demo data still loads."""
        name = engine_for(engine).label
        try:
            server = stack.ensure(root, ca, engine, password)
        except ServerUnavailable as exc:
            self.stderr.write(f"Demo {name} server skipped: {exc}. Its demo instance stays.")
            return stack.recorded_port(root, engine)
        except ServerStartError as exc:
            self.stderr.write(f"Demo {name} server did not start: {exc}")
            return stack.recorded_port(root, engine)
        state = "already running" if server.reused else "started"
        self.stdout.write(
            f"  {name} on {LOCALHOST}:{server.port} (TLS, demo CA): {state}, pid {server.pid}"
        )
        home = stack.data_home(root, engine)
        if not home.is_relative_to(root):
            self.stdout.write(
                f"    its data is in {home}: the account PostgreSQL runs as cannot enter {root}"
            )
        return server.port

    def stop_servers(self, root: Path, remove: bool) -> None:
        stopped = stack.remove_all(root) if remove else stack.stop_all(root)
        for engine, pid in stopped.items():
            name = engine_for(engine).label
            said = f"stopped (pid {pid})" if pid else "was not running"
            self.stdout.write(f"demo {name} server {said}")
        if remove:
            self.stdout.write(f"demo data removed ({root})")

    def load_users(self, team: Team) -> None:
        User = get_user_model()
        for username, role in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = user.is_superuser = role == Role.ADMIN
                user.save()
            Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})

    def load_instance(self, team: Team, spec: dict, password: str) -> None:
        instance = Instance.objects.filter(name=spec["name"]).first()
        if instance is None:
            instance = Instance(team=team, **spec)
        else:
            for key, value in spec.items():
                setattr(instance, key, value)
        instance.set_password(password)
        instance.save()
