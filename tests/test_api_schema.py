"""A property test of the API against its own live schema (schemathesis over the WSGI app):
no answer is a server error, and every answer fits the schema (status, type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from instances.models import Engine, Team
from tests.api_support import make_token
from tests.base import make_instance

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# The schema's example name: generated calls reach a real instance of the token's team,
# on a host in a refused network (tests and rotations run, refused before any packet).
EXAMPLE_NAME = "orders-db"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """Django closes the database connection after each request; under the test's
    transaction that would end it. Django's test client does the same as this."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def auth(db) -> dict[str, str]:
    team = Team.objects.create(name="Schema")
    make_instance(team, EXAMPLE_NAME, host="169.254.10.10")
    make_instance(team, "orders-cache", Engine.VALKEY, host="169.254.10.11")
    _, token = make_token(team)
    return {"Authorization": f"Bearer {token}"}


# Loaded through the WSGI app at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_it_answers_every_generated_call_as_its_schema_says(case, auth):
    cache.clear()  # the limits are tested elsewhere; here they would only cut the run short
    case.call_and_validate(headers=auth, checks=CHECKS)
