from django.urls import path

from instances.views import pages

urlpatterns = [
    path("", pages.instance_list, name="instance-list"),
    path("instances/<slug:name>/", pages.instance_settings, name="instance-settings"),
    path("instances/<slug:name>/test/", pages.instance_test, name="instance-test"),
    path("instances/<slug:name>/activity/", pages.instance_activity, name="instance-activity"),
    path("instances/<slug:name>/ca.pem", pages.ca_certificate, name="instance-ca"),
]
