from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from instances.views import pages

urlpatterns = [
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Changing the password signs out every other session (Django's session auth hash).
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("accounts.urls")),
    path("healthz", pages.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("api.urls")),  # HTTP API under /api/v1/ and the teams' Tokens pages
    path("", include("instances.urls")),
    path("", include("alerts.urls")),
]

handler404 = "instances.views.errors.not_found"
handler500 = "instances.views.errors.server_error"
handler403 = "instances.views.errors.forbidden"
