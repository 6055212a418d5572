# The risk engine is pure (risk/engine.py); its limits live on each bot's
# versioned configuration (trading.BotConfig.risk_limits).
