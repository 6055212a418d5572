"""REST API views of the trading app (thin: parse, authorise, call a service, render).

Who may call what is declared in ``tradingsite/api_roles.py``; the routes are
in ``tradingsite/api_urls.py``.
"""

from trading.api.health import HealthView

__all__ = ["HealthView"]
