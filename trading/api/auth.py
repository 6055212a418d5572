"""Signing in and out, and login lockouts (admin)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from audit.actors import Actor
from trading.auth_services import LoginRefused, auth_lockout_reset, auth_login, auth_logout
from trading.selectors import login_lockout_list
from tradingsite.api_auth import lockout_body
from tradingsite.api_common import ErrorSerializer

TAGS = ["auth"]


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, write_only=True)


class LoginOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once.")
    expiry = serializers.DateTimeField(allow_null=True)
    username = serializers.CharField()
    role = serializers.CharField()


class LoginView(APIView):
    """Exchange a username and password for an expiring API token.

    Repeated failures for one username from one address lock that pair out
    (429, saying so) until the cool-off passes or an admin resets it.
    """

    # A stale token in the request must not stop anyone from signing in again.
    authentication_classes: list[type] = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        tags=TAGS,
        request=LoginInputSerializer,
        responses={
            200: LoginOutputSerializer,
            400: OpenApiResponse(description="missing or malformed fields"),
            401: ErrorSerializer,
            403: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = auth_login(request=request._request, **serializer.validated_data)
        except LoginRefused as exc:
            return login_refused_response(exc)
        body = {
            "token": result.token,
            "expiry": result.expiry,
            "username": result.user.get_username(),
            "role": Actor.for_user(result.user).role.label,
        }
        return Response(LoginOutputSerializer(body).data)


def login_refused_response(exc: LoginRefused) -> Response:
    if exc.code == "locked_out":
        body = lockout_body()
        return Response(body, status=429, headers={"Retry-After": str(body["retry_after_seconds"])})
    if exc.code == "no_role":
        return Response({"detail": exc.message, "code": exc.code}, status=403)
    return Response(
        {"detail": exc.message, "code": exc.code}, status=401, headers={"WWW-Authenticate": "Token"}
    )


class LogoutOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


class LogoutView(APIView):
    """Revoke the token this request carries (or end the session)."""

    @extend_schema(tags=TAGS, request=None, responses={200: LogoutOutputSerializer})
    def post(self, request: Request) -> Response:
        auth_logout(request=request._request, user=request.user, token=request.auth)
        return Response({"detail": "signed out"})


class LockoutOutputSerializer(serializers.Serializer):
    username = serializers.CharField(allow_null=True)
    ip_address = serializers.CharField(allow_null=True)
    failures = serializers.IntegerField(source="failures_since_start")
    last_attempt_at = serializers.DateTimeField(source="attempt_time")


class LockoutListView(APIView):
    """Username and address pairs locked out of logging in right now."""

    @extend_schema(tags=TAGS, responses={200: LockoutOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(LockoutOutputSerializer(login_lockout_list()[:500], many=True).data)


class LockoutResetInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    ip_address = serializers.IPAddressField(required=False, help_text="only this address; default all")


class LockoutResetOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    attempts_cleared = serializers.IntegerField()


class LockoutResetView(APIView):
    """Lift the login lockout of a username (admin)."""

    @extend_schema(
        tags=TAGS, request=LockoutResetInputSerializer, responses={200: LockoutResetOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = LockoutResetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cleared = auth_lockout_reset(actor=Actor.for_user(request.user), **serializer.validated_data)
        body = {"username": serializer.validated_data["username"], "attempts_cleared": cleared}
        return Response(LockoutResetOutputSerializer(body).data)
