from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Trading bot"
admin.site.site_title = "Trading bot admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("tradingsite.api_urls")),
    path("", include("audit.urls")),
    path("", include("approvals.urls")),
    path("", include("trading.urls")),
]
