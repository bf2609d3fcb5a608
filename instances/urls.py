from django.urls import path

from instances.views import audit, checks, onboarding, pages, rotation, settings_tab

urlpatterns = [
    path("", pages.instance_list, name="instance-list"),
    path("instances/<slug:name>/", settings_tab.instance_settings, name="instance-settings"),
    path("instances/<slug:name>/reveal", settings_tab.reveal, name="instance-reveal"),
    path("instances/<slug:name>/copy", settings_tab.copy_secret, name="instance-copy"),
    path("instances/<slug:name>/test/", checks.instance_check, name="instance-check"),
    path("instances/<slug:name>/test", checks.run_check, name="instance-check-run"),
    path("instances/<slug:name>/activity/", pages.instance_activity, name="instance-activity"),
    path("instances/<slug:name>/ca.pem", pages.ca_certificate, name="instance-ca"),
    path("instances/<slug:name>/rotate/", rotation.rotation_start, name="rotation-start"),
    path(
        "instances/<slug:name>/rotations/progress.json",
        rotation.rotation_progress,
        name="rotation-progress",
    ),
    path(
        "instances/<slug:name>/rotations/<uuid:uid>/",
        rotation.rotation_detail,
        name="rotation-detail",
    ),
    path(
        "instances/<slug:name>/rotations/<uuid:uid>/resume",
        rotation.rotation_resume,
        name="rotation-resume",
    ),
    path(
        "instances/<slug:name>/rotations/<uuid:uid>/finish",
        rotation.rotation_finish,
        name="rotation-finish",
    ),
    path(
        "instances/<slug:name>/rotations/<uuid:uid>/undo",
        rotation.rotation_undo,
        name="rotation-undo",
    ),
    path(
        "instances/<slug:name>/rotations/<uuid:uid>/reveal",
        rotation.rotation_reveal,
        name="rotation-reveal",
    ),
    path("teams/<int:team_id>/audit/", audit.audit_log, name="team-audit"),
    path("teams/<int:team_id>/audit.csv", audit.audit_csv, name="team-audit-csv"),
    path("teams/<int:team_id>/onboarding/", onboarding.team_onboarding, name="team-onboarding"),
    path("teams/<int:team_id>/onboarding/env", onboarding.env_download, name="team-env"),
]
