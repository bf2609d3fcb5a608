from django.urls import path

from instances.views import (
    audit,
    checks,
    instance_edit,
    invitations,
    members,
    onboarding,
    pages,
    rotation,
    settings_tab,
)

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
    path("teams/new/", members.team_create, name="team-create"),
    path("teams/<int:team_id>/members/", members.member_list, name="team-members"),
    path("teams/<int:team_id>/members/add", members.member_add, name="team-member-add"),
    path("teams/<int:team_id>/members/invite", members.member_invite, name="team-invite"),
    path("teams/<int:team_id>/members/<int:user_id>/", members.member_detail, name="team-member"),
    path(
        "teams/<int:team_id>/members/<int:user_id>/role",
        members.member_role,
        name="team-member-role",
    ),
    path(
        "teams/<int:team_id>/members/<int:user_id>/remove",
        members.member_remove,
        name="team-member-remove",
    ),
    path(
        "teams/<int:team_id>/invitations/<int:invitation_id>/withdraw",
        members.invitation_withdraw,
        name="team-invitation-withdraw",
    ),
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation-accept"),
    path("teams/<int:team_id>/instances/new/", instance_edit.instance_new, name="instance-new"),
    path(
        "teams/<int:team_id>/instances/new/test",
        instance_edit.draft_test_new,
        name="instance-new-test",
    ),
    path("instances/<slug:name>/edit/", instance_edit.instance_edit, name="instance-edit"),
    path(
        "instances/<slug:name>/edit/test", instance_edit.draft_test_edit, name="instance-edit-test"
    ),
    path("instances/<slug:name>/archive", instance_edit.instance_archive, name="instance-archive"),
    path("instances/<slug:name>/delete/", instance_edit.instance_delete, name="instance-delete"),
]
