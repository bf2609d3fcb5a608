from allauth.socialaccount.providers.openid_connect import urls as oidc_urls
from django.urls import include, path

from accounts import keys, views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.login_code, name="login-code"),
    path("account/", views.account, name="account"),
    path("account/totp/", views.totp_activate, name="totp_activate"),
    path("account/totp/remove", views.totp_remove, name="totp_remove"),
    path("account/keys/", keys.key_add, name="key_add"),
    path("account/keys/<int:key_id>/remove", keys.key_remove, name="key_remove"),
    path("account/recovery-codes", views.recovery_codes, name="recovery_codes"),
    path("account/step-up", views.step_up, name="step-up"),
    path("account/step-up/continue", views.step_up_resume, name="step-up-resume"),
    path("teams/<int:team_id>/security", views.team_security, name="team-security"),
    # allauth's OpenID Connect login and callback: /accounts/oidc/sso/login/(callback/)
    path("accounts/", include(oidc_urls)),
]
