from django.urls import path

from instances.views import onboarding, pages, settings_tab

urlpatterns = [
    path("", pages.instance_list, name="instance-list"),
    path("instances/<slug:name>/", settings_tab.instance_settings, name="instance-settings"),
    path("instances/<slug:name>/reveal", settings_tab.reveal, name="instance-reveal"),
    path("instances/<slug:name>/copy", settings_tab.copy_secret, name="instance-copy"),
    path("instances/<slug:name>/test/", pages.instance_test, name="instance-test"),
    path("instances/<slug:name>/activity/", pages.instance_activity, name="instance-activity"),
    path("instances/<slug:name>/ca.pem", pages.ca_certificate, name="instance-ca"),
    path("teams/<int:team_id>/onboarding/", onboarding.team_onboarding, name="team-onboarding"),
    path("teams/<int:team_id>/onboarding/env", onboarding.env_download, name="team-env"),
]
