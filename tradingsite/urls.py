from django.contrib import admin
from django.urls import include, path

from trading.api import HealthView

admin.site.site_header = "Trading bot"
admin.site.site_title = "Trading bot admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health", HealthView.as_view(), name="api-health"),
    path("", include("audit.urls")),
    path("", include("trading.urls")),
]
