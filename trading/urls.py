"""Dashboard pages of the trading app, and the login and logout pages."""

from django.contrib.auth import views as auth_views
from django.urls import path

from trading import views
from trading.views import backtests, scheduler

app_name = "dashboard"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("system/badge/", views.state_badge, name="state-badge"),
    path("system/state/", views.state_panel, name="state-panel"),
    path("system/state/change/", views.state_change, name="state-change"),
    path("bots/<slug:name>/", views.bot_detail, name="bot"),
    path("bots/<slug:name>/rollback/", views.bot_rollback, name="bot-rollback"),
    path("bots/<slug:name>/cycle/", views.bot_cycle, name="bot-cycle"),
    path("scheduler/", scheduler.scheduler, name="scheduler"),
    path("scheduler/switch/", scheduler.scheduler_switch, name="scheduler-switch"),
    path("scheduler/bots/<int:bot_id>/", scheduler.scheduler_bot, name="scheduler-bot"),
    path("backtests/", backtests.backtests, name="backtests"),
    path("backtests/run/", backtests.backtest_run, name="backtest-run"),
    path("backtests/<int:backtest_id>/", backtests.backtest, name="backtest"),
    path("orders/", views.orders, name="orders"),
    path("orders/export.csv", views.orders_csv, name="orders-csv"),
    path("fills/", views.fills, name="fills"),
    path("fills/export.csv", views.fills_csv, name="fills-csv"),
]
