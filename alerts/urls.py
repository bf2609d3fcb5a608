from django.urls import path

from alerts import views

urlpatterns = [
    path("teams/<int:team_id>/alerts/", views.alert_channels, name="team-alerts"),
    path("teams/<int:team_id>/alerts/channels", views.channel_add, name="alert-channel-add"),
    path(
        "teams/<int:team_id>/alerts/channels/<uuid:uid>/remove",
        views.channel_remove,
        name="alert-channel-remove",
    ),
    path(
        "teams/<int:team_id>/alerts/channels/<uuid:uid>/test",
        views.channel_test,
        name="alert-channel-test",
    ),
    path("teams/<int:team_id>/alerts/settings", views.settings_update, name="alert-settings"),
]
