from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from instances.access import admin_team_ids, admin_teams, get_instance_for, visible_instances
from instances.validation import certificates_only

INSTANCES_PER_PAGE = 100


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "fail", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@login_required
@require_GET
def instance_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    instances = visible_instances(request.user).filter(archived_at__isnull=True)
    instances = instances.order_by("team__name", "name").prefetch_related("alert_states")
    if query:
        instances = instances.filter(Q(name__icontains=query) | Q(host__icontains=query))
    page = Paginator(instances, INSTANCES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "instances/list.html",
        {
            "instances": page.object_list,
            "page": page,
            "query": query,
            "admin_teams": admin_team_ids(request.user),
            "teams_run": admin_teams(request.user).order_by("name"),
        },
    )


@login_required
@require_GET
def ca_certificate(request: HttpRequest, name: str) -> HttpResponse:
    instance, _ = get_instance_for(request.user, name)
    if not instance.ca_cert:
        raise Http404("This instance uses a publicly trusted certificate.")
    try:
        # Stored CAs are certificates only; re-serialising here keeps it so for any row.
        pem = certificates_only(instance.ca_cert)
    except ValidationError:
        message = (
            f"The stored CA certificate of {instance.name} is not a certificate. "
            "An admin should paste the CA's certificate again."
        )
        return render(request, "error.html", {"status": 409, "message": message}, status=409)
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{instance.ca_file_name}"'
    return response


@login_required
@require_GET
def instance_activity(request: HttpRequest, name: str) -> HttpResponse:
    instance, membership = get_instance_for(request.user, name)
    checks = instance.checks.select_related("actor")[:25]
    return render(
        request,
        "instances/activity.html",
        {"instance": instance, "membership": membership, "tab": "activity", "checks": checks},
    )
