"""The approvals pages."""

from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("approvals/", views.approvals, name="list"),
    path("approvals/<int:approval_id>/", views.approval_detail, name="detail"),
    path("approvals/<int:approval_id>/decide/", views.decide, name="decide"),
    path("approvals/advise/", views.advise, name="advise"),
]
