from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "instances"
    verbose_name = "Instances"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import instances.signals  # noqa: F401  (audits failed logins)
        from instances import system_checks  # noqa: F401  (registers the checks)
