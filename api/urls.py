from django.urls import path

from api import views
from api.v1 import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("teams/<int:team_id>/tokens/", views.team_tokens, name="team-tokens"),
    path(
        "teams/<int:team_id>/tokens/<int:token_id>/revoke",
        views.revoke_token,
        name="team-token-revoke",
    ),
]
