from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from trading.roles import sync_roles_after_migrate

        # New models bring new permissions; keep the role groups complete.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="trading.sync_roles")
