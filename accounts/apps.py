from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Sign-in, second factors and step-up"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401
