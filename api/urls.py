from django.urls import path, re_path

from api import views
from api.v1 import api

urlpatterns = [
    path("api/v1/", views.api_not_found),  # before django-ninja's root, which 404s in HTML
    path("api/v1/", api.urls),
    re_path(r"^api/", views.api_not_found),  # JSON, not the portal's HTML 404 page
    path("teams/<int:team_id>/tokens/", views.team_tokens, name="team-tokens"),
    path(
        "teams/<int:team_id>/tokens/<int:token_id>/revoke",
        views.revoke_token,
        name="team-token-revoke",
    ),
]
