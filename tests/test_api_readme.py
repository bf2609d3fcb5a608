"""The README's CI example of the HTTP API, run as written with curl and jq against a live
portal: the step ends with the instance's URL in $GITHUB_ENV."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from api.models import Scope
from instances.models import Team
from instances.snippets import connection_uri
from tests.api_support import make_token
from tests.base import make_instance, stored_password
from tests.servers import unavailable

README = Path(__file__).resolve().parent.parent / "README.md"


def ci_step() -> str:
    """The shell of the `run: |` block in the README's CI example."""
    section = README.read_text().split("### In CI: the URL of an instance", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "the README's CI example has no yaml block"
    yaml = block.group(1)
    run = yaml.split("run: |\n", 1)[1]
    return "\n".join(line.removeprefix("    ") for line in run.splitlines())


@pytest.mark.django_db(transaction=True)
def test_it_fetches_the_instance_url_as_the_readme_says(live_server, tmp_path):
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is needed to run the README's CI example")
    team = Team.objects.create(name="Shop")
    instance = make_instance(team, "orders-db", host="db.shop.example")
    _, token = make_token(team, [Scope.REVEAL], name="deploy")
    github_env = tmp_path / "github_env"
    env = {
        **os.environ,
        "ZEKTOR_TOKEN": token,
        "PORTAL": live_server.url,
        "GITHUB_ENV": str(github_env),
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", ci_step()],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = connection_uri(instance, stored_password(instance))
    assert github_env.read_text() == f"DATABASE_URL={expected}\n"
    assert f"::add-mask::{expected}" in result.stdout
