"""The events log pages."""

from django.urls import path

from audit import views

app_name = "events"

urlpatterns = [
    path("events/", views.events, name="list"),
    path("events/chain/", views.chain, name="chain"),
    path("events/<int:seq>/", views.event_detail, name="detail"),
]
