from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from trading import notifications, signals
        from trading.models import Bot, BotConfig
        from trading.roles import sync_roles_after_migrate

        post_save.connect(signals.bot_saved, sender=Bot, dispatch_uid="trading.bot_saved")
        post_save.connect(signals.config_saved, sender=BotConfig, dispatch_uid="trading.config_saved")
        post_delete.connect(signals.bot_deleted, sender=Bot, dispatch_uid="trading.bot_deleted")

        # New models bring new permissions; keep the role groups complete.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="trading.sync_roles")

        # Telegram notifications follow the audit log (and register their tasks).
        notifications.connect()
