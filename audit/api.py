"""The audit trail over the API: filtered lists, one event with its inputs and
result, and the hash chain's verification."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import selectors
from audit.models import Event
from tradingsite.api_common import (
    ErrorSerializer,
    TimeRangeFilterSerializer,
    cursor_pagination,
    parse_filters,
)

TAGS = ["events"]


class EventFilterSerializer(TimeRangeFilterSerializer):
    type = serializers.CharField(max_length=100, required=False, help_text="exact, e.g. system.state.changed")
    type_prefix = serializers.CharField(max_length=100, required=False, help_text="e.g. auth.")
    actor = serializers.CharField(max_length=150, required=False, help_text="e.g. operator, scheduler")


class EventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ("seq", "created_at", "type", "actor", "bot", "message")


class EventDetailOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ("seq", "created_at", "type", "actor", "bot", "message", "inputs", "result", "prev_hash", "hash")


class ChainStatusOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField(help_text="events verified")
    first_bad_seq = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)


@extend_schema(tags=TAGS, parameters=[EventFilterSerializer])
class EventListView(ListAPIView):
    """Events, newest first (``GET /api/events/{seq}`` has the inputs and the result)."""

    serializer_class = EventOutputSerializer
    pagination_class = cursor_pagination("-seq")

    def get_queryset(self) -> Any:
        return selectors.event_list(**parse_filters(EventFilterSerializer, self.request.query_params))


class EventDetailView(APIView):
    @extend_schema(tags=TAGS, responses={200: EventDetailOutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, seq: int) -> Response:
        """One event with what it was given (inputs) and what came of it (result)."""
        return Response(EventDetailOutputSerializer(selectors.event_get(seq=seq)).data)


class EventVerifyView(APIView):
    @extend_schema(tags=TAGS, responses={200: ChainStatusOutputSerializer})
    def get(self, request: Request) -> Response:
        """Walk the hash chain: ``ok`` false names the first edited, deleted or reordered event."""
        return Response(ChainStatusOutputSerializer(selectors.event_chain_status().as_dict()).data)
