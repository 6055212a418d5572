"""Market data, bots and their versioned configuration, orders, fills,
positions, snapshots and the system state. Money is ``Decimal`` everywhere."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from trading.timeframes import TIMEFRAME_CHOICES

# Binance quotes to at most 8 decimals; 24 digits leave 16 for the integer part.
MONEY = {"max_digits": 24, "decimal_places": 8}
ZERO = Decimal("0")


def money_field(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(**MONEY, **kwargs)


class Side(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class Mode(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class Candle(models.Model):
    """A closed candle. Unclosed candles are never stored."""

    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4, choices=TIMEFRAME_CHOICES)
    open_time = models.DateTimeField()
    close_time = models.DateTimeField()
    open = money_field()
    high = money_field()
    low = money_field()
    close = money_field()
    volume = models.DecimalField(max_digits=30, decimal_places=8)
    source = models.CharField(max_length=20, default="binance")

    class Meta:
        db_table = "candles_cache"
        ordering = ["symbol", "timeframe", "open_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "timeframe", "open_time"], name="candle_unique_open_time"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class SystemState(models.Model):
    """The single row (id=1) holding the whole system's trading state.

    Changed only through ``trading.state``.
    """

    class State(models.TextChoices):
        RUNNING = "RUNNING", "Running"
        PAUSED = "PAUSED", "Paused"
        EMERGENCY_STOP = "EMERGENCY_STOP", "Emergency stop"

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PAUSED)
    reason = models.TextField(blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.CharField(max_length=150, default="system")
    scheduler_enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "system_state"
        verbose_name = "system state"
        verbose_name_plural = "system state"
        permissions = [
            ("operate_system", "Can pause, resume and emergency-stop the system"),
            ("resume_emergency", "Can resume the system from an emergency stop"),
            ("manage_scheduler", "Can switch the scheduler and change intervals"),
            ("trigger_cycle", "Can trigger a trading cycle"),
            ("run_backtest", "Can run a backtest"),
            ("place_live_order", "Can place a manual live order"),
        ]

    def __str__(self) -> str:
        return self.state


class Bot(models.Model):
    """A trading bot. Its behaviour is its active :class:`BotConfig` version."""

    name = models.SlugField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    # None: one cycle per candle of the bot's timeframe.
    schedule_interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    quote_asset = models.CharField(max_length=10, default="USDT")
    initial_cash = money_field(default=Decimal("10000"))
    cash = money_field(default=Decimal("10000"))
    peak_equity = money_field(default=Decimal("10000"))
    created_at = models.DateTimeField(auto_now_add=True)
    last_cycle_at = models.DateTimeField(null=True, blank=True)
    last_candle_time = models.DateTimeField(null=True, blank=True)
    # Single-flight lease for cycles: claimed by a conditional update.
    cycle_lock_token = models.CharField(max_length=64, blank=True)
    cycle_locked_until = models.DateTimeField(null=True, blank=True)
    # Set when something (e.g. a balance mismatch) needs an operator first.
    trading_blocked_reason = models.TextField(blank=True)

    class Meta:
        db_table = "bots"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def active_config(self) -> BotConfig | None:
        return self.configs.filter(is_active=True).first()


class BotConfig(models.Model):
    """One version of a bot's configuration. Rows are never edited: every change,
    by hand or through an approval, and every rollback, is a new version."""

    class Source(models.TextChoices):
        SEED = "seed", "Seed"
        MANUAL = "manual", "Manual edit"
        APPROVAL = "approval", "Approved proposal"
        ROLLBACK = "rollback", "Rollback"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="configs")
    version = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4, choices=TIMEFRAME_CHOICES)
    strategy = models.CharField(max_length=64)
    strategy_params = models.JSONField(default=dict, blank=True)
    risk_limits = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    author_name = models.CharField(max_length=150)
    source = models.CharField(max_length=16, choices=Source.choices)
    note = models.TextField(blank=True)
    rolled_back_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "config"
        ordering = ["bot", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "version"], name="config_unique_version"),
            models.UniqueConstraint(
                fields=["bot"], condition=Q(is_active=True), name="config_one_active_per_bot"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bot} v{self.version}"


class CycleRun(models.Model):
    """What one trading cycle saw and decided (the dashboard's last signal)."""

    class Status(models.TextChoices):
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="cycles")
    config = models.ForeignKey(BotConfig, null=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    candle_time = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    signal = models.CharField(max_length=8, blank=True)
    signal_reason = models.TextField(blank=True)
    indicators = models.JSONField(default=dict, blank=True)
    decision = models.CharField(max_length=8, blank=True)
    decision_quantity = money_field(null=True, blank=True)
    decision_reasons = models.JSONField(default=list, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        db_table = "cycle_runs"
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["bot", "-started_at"], name="cycles_bot_started")]

    def __str__(self) -> str:
        return f"{self.bot} cycle at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class Order(models.Model):
    class Type(models.TextChoices):
        MARKET = "MARKET", "Market"
        LIMIT = "LIMIT", "Limit"

    class Status(models.TextChoices):
        NEW = "NEW", "New (stored, not yet sent)"
        OPEN = "OPEN", "Open"
        PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
        FILLED = "FILLED", "Filled"
        CANCELED = "CANCELED", "Canceled"
        REJECTED = "REJECTED", "Rejected"
        EXPIRED = "EXPIRED", "Expired"
        # The exchange may or may not have the order: reconcile before resending.
        UNKNOWN = "UNKNOWN", "Unknown (reconciling)"

    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PARTIALLY_FILLED, Status.UNKNOWN)

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="orders")
    config = models.ForeignKey(
        BotConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    client_order_id = models.CharField(max_length=36, unique=True)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=8, choices=Type.choices, default=Type.MARKET)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    quantity = money_field()
    price = money_field(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    filled_quantity = money_field(default=ZERO)
    avg_fill_price = money_field(null=True, blank=True)
    fee_total = money_field(default=ZERO)
    candle_time = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Live orders: when the order was claimed for sending (None: never sent, so
    # it cannot exist on the exchange), and the exchange's own status word as
    # last read (NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, ...).
    sent_at = models.DateTimeField(null=True, blank=True)
    exchange_status = models.CharField(max_length=20, blank=True)

    class Meta:
        db_table = "orders"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["bot", "-created_at"], name="orders_bot_created"),
            models.Index(fields=["symbol", "-created_at"], name="orders_symbol_created"),
            models.Index(fields=["status"], name="orders_status"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="fills")
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = money_field()
    quantity = money_field()
    quote_quantity = money_field()
    fee = money_field(default=ZERO)
    fee_asset = models.CharField(max_length=10, default="USDT")
    trade_id = models.CharField(max_length=64)
    filled_at = models.DateTimeField()
    # PnL this fill realised (sells), fees included; None for buys.
    realized_pnl = money_field(null=True, blank=True)

    class Meta:
        db_table = "fills"
        ordering = ["-filled_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "trade_id"], name="fill_unique_trade")
        ]
        indexes = [
            models.Index(fields=["bot", "-filled_at"], name="fills_bot_filled"),
            models.Index(fields=["symbol", "-filled_at"], name="fills_symbol_filled"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} @ {self.price}"


class Position(models.Model):
    """A bot's holding of one symbol (long only on spot). Kept at zero when flat."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=20)
    quantity = money_field(default=ZERO)
    # Total cost of what is held, buy fees included; the average entry price is
    # derived from it so that equity = cash + marked positions holds exactly.
    cost_basis = money_field(default=ZERO)
    avg_entry_price = money_field(default=ZERO)
    realized_pnl = money_field(default=ZERO)
    fees_paid = money_field(default=ZERO)
    last_price = money_field(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "positions"
        ordering = ["bot", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "symbol"], name="position_unique_symbol")
        ]

    def __str__(self) -> str:
        return f"{self.bot} {self.quantity} {self.symbol}"

    @property
    def unrealized_pnl(self) -> Decimal:
        if not self.quantity or self.last_price is None:
            return ZERO
        return self.last_price * self.quantity - self.cost_basis


class BalanceMismatch(models.Model):
    """The exchange's balance of an asset disagreed with a live bot's books.

    Recording one blocks the bot (``Bot.trading_blocked_reason``) until an
    operator acknowledges it. An acknowledged difference is accepted from then
    on (e.g. coins held on the account before the bot started), so only a
    *new* difference blocks again.
    """

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="balance_mismatches")
    asset = models.CharField(max_length=10)
    exchange_quantity = money_field()  # free + locked on the exchange
    local_quantity = money_field()  # what the live bots' positions hold
    difference = money_field()  # exchange - local
    accepted_difference = money_field(default=ZERO)  # acknowledged before this one
    tolerance = money_field()  # the symbol's step size
    detected_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        db_table = "balance_mismatches"
        ordering = ["-detected_at", "-id"]
        indexes = [models.Index(fields=["bot", "asset", "-detected_at"], name="mismatch_bot_asset")]

    def __str__(self) -> str:
        return f"{self.bot} {self.asset}: exchange {self.exchange_quantity} vs books {self.local_quantity}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class EquitySnapshot(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="equity_snapshots")
    taken_at = models.DateTimeField()
    cash = money_field()
    positions_value = money_field()
    equity = money_field()
    realized_pnl = money_field(default=ZERO)
    unrealized_pnl = money_field(default=ZERO)
    fees_paid = money_field(default=ZERO)
    peak_equity = money_field()
    drawdown = models.DecimalField(max_digits=12, decimal_places=8, default=ZERO)

    class Meta:
        db_table = "equity_snapshots"
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["bot", "-taken_at"], name="equity_bot_taken")]

    def __str__(self) -> str:
        return f"{self.bot} equity {self.equity} at {self.taken_at:%Y-%m-%d %H:%M}"


class MetricsSnapshot(models.Model):
    """Performance metrics of a bot at a moment. Ratios are decimals (0.05 = 5 %)."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="metrics_snapshots")
    taken_at = models.DateTimeField()
    total_return = models.DecimalField(max_digits=20, decimal_places=8, default=ZERO)
    max_drawdown = models.DecimalField(max_digits=20, decimal_places=8, default=ZERO)
    sharpe = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    sortino = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    win_rate = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    profit_factor = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    avg_trade = money_field(null=True, blank=True)
    exposure = models.DecimalField(max_digits=20, decimal_places=8, default=ZERO)
    trade_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "metrics_snapshots"
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["bot", "-taken_at"], name="metrics_bot_taken")]

    def __str__(self) -> str:
        return f"{self.bot} metrics at {self.taken_at:%Y-%m-%d %H:%M}"


class BotSummary(models.Model):
    """What each cycle needs from a bot's history, kept current instead of
    re-read: the newest equity snapshot and the day-start equity, the deepest
    drawdown, the recent equity curve of the metrics, the running tallies of
    closing (SELL) fills for the trade figures and the loss cooldown, and how
    far its candle series was last found complete.

    Derived data only (see ``trading.summary``): updated in the same transaction
    as the snapshot or fill that changes it, under the bot's row lock, and
    rebuilt from the history whenever the row is missing or a row arrives out of
    time order.
    """

    bot = models.OneToOneField(Bot, primary_key=True, on_delete=models.CASCADE, related_name="summary")
    # The newest equity snapshot (by taken_at, then id), and the equity of the
    # newest one taken before its UTC day began (day_start_at).
    last_taken_at = models.DateTimeField(null=True, blank=True)
    last_equity = money_field(null=True, blank=True)
    day_start_at = models.DateTimeField(null=True, blank=True)
    day_start_equity = money_field(null=True, blank=True)
    max_drawdown = models.DecimalField(max_digits=12, decimal_places=8, default=ZERO)
    # The newest snapshots of the metrics window, oldest first: equity as
    # float64 and whether anything was held (one byte each).
    curve = models.BinaryField(default=bytes)
    curve_in_market = models.BinaryField(default=bytes)
    # SELL fills with a realised PnL: their tally (count, wins, gross profit and
    # loss, total, as exact decimal text), the newest one's time, the losing
    # streak, and how many sells came after the newest loss (None: no loss).
    trades = models.JSONField(default=dict)
    last_sell_at = models.DateTimeField(null=True, blank=True)
    losing_streak = models.PositiveIntegerField(default=0)
    sells_since_loss = models.PositiveIntegerField(null=True, blank=True)
    last_loss_candle_time = models.DateTimeField(null=True, blank=True)
    # The bot's candle series ("BTCUSDT 1m") and the open times its last cycle
    # found all cached (``market_data.RefreshReport.complete``).
    candles_series = models.CharField(max_length=32, blank=True)
    candles_first = models.DateTimeField(null=True, blank=True)
    candles_last = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "bot_summaries"
        verbose_name_plural = "bot summaries"

    def __str__(self) -> str:
        return f"{self.bot_id} summary"


class SimulatedClock(models.Model):
    """An accelerated replay clock (the offline demo): when enabled, the
    cycle's "now" is ``sim_start + (real now - real_start) * speed``."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    enabled = models.BooleanField(default=False)
    sim_start = models.DateTimeField()
    real_start = models.DateTimeField()
    speed = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))

    class Meta:
        db_table = "simulated_clock"

    def __str__(self) -> str:
        return f"replay clock from {self.sim_start:%Y-%m-%d %H:%M} at {self.speed}x"


class Backtest(models.Model):
    """A backtest run as a background task (dashboard, API, advisor evidence)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.CharField(max_length=150)
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="backtests")
    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4, choices=TIMEFRAME_CHOICES)
    strategy = models.CharField(max_length=64)
    strategy_params = models.JSONField(default=dict, blank=True)
    risk_limits = models.JSONField(default=dict, blank=True)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    initial_cash = money_field(default=Decimal("10000"))
    fee_bps = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("10"))
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    candle_count = models.PositiveIntegerField(default=0)
    # Metrics (Decimals as strings), blocks by reason, trades, and a
    # downsampled equity curve for charts.
    metrics = models.JSONField(default=dict, blank=True)
    blocks = models.JSONField(default=dict, blank=True)
    trades = models.JSONField(default=list, blank=True)
    equity_curve = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "backtests"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="backtests_status_created")]

    def __str__(self) -> str:
        return f"backtest #{self.pk} {self.strategy} {self.symbol} {self.timeframe} ({self.status})"
