"""Every route of the REST API, mounted under ``/api/``.

Each URL name here has its minimum role per method in
``tradingsite/api_roles.py``; a route missing there is refused to everyone.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from approvals.api import (
    ApprovalApproveView,
    ApprovalDetailView,
    ApprovalListView,
    ApprovalRejectView,
    BotAdviseView,
)
from audit.api import EventDetailView, EventListView, EventVerifyView
from trading.api.auth import LockoutListView, LockoutResetView, LoginView, LogoutView
from trading.api.backtests import BacktestDetailView, BacktestListView
from trading.api.bots import (
    BotConfigDetailView,
    BotConfigDiffView,
    BotConfigListView,
    BotConfigRollbackView,
    BotDetailView,
    BotListView,
)
from trading.api.cycles import BotCycleView
from trading.api.health import HealthView
from trading.api.live import LiveOrderView
from trading.api.records import (
    EquitySnapshotListView,
    FillListView,
    MetricsSnapshotListView,
    OrderListView,
    PositionListView,
)
from trading.api.scheduler import SchedulerBotView, SchedulerView
from trading.api.system import (
    SystemEmergencyStopView,
    SystemPauseView,
    SystemResumeAfterEmergencyView,
    SystemResumeView,
    SystemStateView,
)

CSV = {"export": "csv"}

urlpatterns = [
    path("health", HealthView.as_view(), name="api-health"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # auth
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/lockouts", LockoutListView.as_view(), name="auth-lockout-list"),
    path("auth/lockouts/reset", LockoutResetView.as_view(), name="auth-lockout-reset"),
    # system state
    path("system/state", SystemStateView.as_view(), name="system-state"),
    path("system/pause", SystemPauseView.as_view(), name="system-pause"),
    path("system/resume", SystemResumeView.as_view(), name="system-resume"),
    path("system/emergency-stop", SystemEmergencyStopView.as_view(), name="system-emergency-stop"),
    path(
        "system/resume-after-emergency",
        SystemResumeAfterEmergencyView.as_view(),
        name="system-resume-after-emergency",
    ),
    # the scheduler
    path("scheduler", SchedulerView.as_view(), name="scheduler"),
    path("scheduler/bots/<int:bot_id>", SchedulerBotView.as_view(), name="scheduler-bot"),
    # bots and config versions
    path("bots", BotListView.as_view(), name="bot-list"),
    path("bots/<int:bot_id>", BotDetailView.as_view(), name="bot-detail"),
    path("bots/<int:bot_id>/cycle", BotCycleView.as_view(), name="bot-cycle"),
    path("bots/<int:bot_id>/configs", BotConfigListView.as_view(), name="bot-config-list"),
    path("bots/<int:bot_id>/configs/diff", BotConfigDiffView.as_view(), name="bot-config-diff"),
    path("bots/<int:bot_id>/configs/<int:version>", BotConfigDetailView.as_view(), name="bot-config-detail"),
    path(
        "bots/<int:bot_id>/configs/<int:version>/rollback",
        BotConfigRollbackView.as_view(),
        name="bot-config-rollback",
    ),
    # trading records
    path("orders", OrderListView.as_view(), name="order-list"),
    path("orders/live", LiveOrderView.as_view(), name="order-live"),
    path("orders.csv", OrderListView.as_view(), CSV, name="order-csv"),
    path("fills", FillListView.as_view(), name="fill-list"),
    path("fills.csv", FillListView.as_view(), CSV, name="fill-csv"),
    path("positions", PositionListView.as_view(), name="position-list"),
    path("equity-snapshots", EquitySnapshotListView.as_view(), name="equity-list"),
    path("metrics-snapshots", MetricsSnapshotListView.as_view(), name="metrics-list"),
    # audit trail
    path("events", EventListView.as_view(), name="event-list"),
    path("events/verify", EventVerifyView.as_view(), name="event-verify"),
    path("events/<int:seq>", EventDetailView.as_view(), name="event-detail"),
    # approvals
    path("approvals", ApprovalListView.as_view(), name="approval-list"),
    path("approvals/<int:approval_id>", ApprovalDetailView.as_view(), name="approval-detail"),
    path("approvals/<int:approval_id>/approve", ApprovalApproveView.as_view(), name="approval-approve"),
    path("approvals/<int:approval_id>/reject", ApprovalRejectView.as_view(), name="approval-reject"),
    path("bots/<int:bot_id>/advise", BotAdviseView.as_view(), name="bot-advise"),
    # backtests
    path("backtests", BacktestListView.as_view(), name="backtest-list"),
    path("backtests/<int:backtest_id>", BacktestDetailView.as_view(), name="backtest-detail"),
]
