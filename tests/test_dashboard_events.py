"""The events log pages: filters, one event in detail, the chain's status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.services import record
from tests.factories import BotFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def events(users):  # type: ignore[no-untyped-def]
    bot = BotFactory(name="alpha")
    other = BotFactory(name="beta")
    start = timezone.now() - timedelta(hours=3)
    record("trading.order.filled", "scheduler", "filled alpha", inputs={"qty": "0.1"}, bot=bot, at=start)
    record("trading.order.canceled", "operator", "canceled", bot=bot, at=start + timedelta(hours=1))
    record("system.state.changed", "operator", "paused for lunch",
           inputs={"from": "RUNNING", "to": "PAUSED", "reason": "<lunch & coffee>"},
           result={"state": "PAUSED", "canceled_orders": []}, at=start + timedelta(hours=2))
    record("trading.order.filled", "scheduler", "filled beta", bot=other, at=start + timedelta(hours=2, minutes=30))
    return {"bot": bot, "other": other, "start": start}


def messages_in(html: str) -> list[str]:
    import re

    return re.findall(r"<td>(filled alpha|canceled|paused for lunch|filled beta)</td>", html)


@pytest.mark.django_db
def test_events_are_listed_newest_first(client, viewer, events) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/events/").content.decode()
    assert messages_in(html) == ["filled beta", "paused for lunch", "canceled", "filled alpha"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,expected",
    [
        ({"type": "trading.order"}, ["filled beta", "canceled", "filled alpha"]),
        ({"type": "trading.order.filled"}, ["filled beta", "filled alpha"]),
        ({"actor": "operator"}, ["paused for lunch", "canceled"]),
        ({"type": "nothing.like.this"}, []),
    ],
)
def test_events_filter_by_type_prefix_and_actor(client, viewer, events, query, expected) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/events/", query, **HTMX).content.decode()
    assert messages_in(html) == expected
    if not expected:
        assert "No events match these filters." in html


@pytest.mark.django_db
def test_events_filter_by_bot_and_time(client, viewer, events) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/events/", {"bot": events["bot"].pk}).content.decode()
    assert messages_in(html) == ["canceled", "filled alpha"]
    since = (events["start"] + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    until = (events["start"] + timedelta(hours=2, minutes=15)).strftime("%Y-%m-%dT%H:%M")
    html = client.get("/events/", {"since": since, "until": until}).content.decode()
    assert messages_in(html) == ["paused for lunch", "canceled"]


@pytest.mark.django_db
def test_event_detail_shows_inputs_and_result_as_pretty_escaped_json(client, viewer, events) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/events/3/").content.decode()
    assert "Event #3" in html and "system.state.changed" in html
    assert '&quot;reason&quot;: &quot;&lt;lunch &amp; coffee&gt;&quot;' in html
    assert '  &quot;from&quot;: &quot;RUNNING&quot;,\n' in html
    assert "&quot;canceled_orders&quot;: []" in html
    assert "<lunch" not in html


@pytest.mark.django_db
def test_events_page_loads_the_chain_check_separately(client, viewer, events) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/events/").content.decode()
    assert 'hx-get="/events/chain/" hx-trigger="load"' in html
    assert 'href="/events/chain/"' in html  # works without JavaScript too


@pytest.mark.django_db
def test_chain_status_says_intact(client, viewer, events) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/events/chain/", **HTMX).content.decode()
    assert "Audit chain intact." in html
    assert "All 4 events link up" in html


@pytest.mark.django_db
def test_chain_status_names_the_first_edited_event(client, viewer, events) -> None:  # type: ignore[no-untyped-def]
    # Tamper the way an attacker with database access would: behind the ORM.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE events_log SET message = 'nothing happened' WHERE seq = 2")
    client.force_login(viewer)
    html = client.get("/events/chain/").content.decode()
    assert "Audit chain broken." in html
    assert "Event #2 was edited: its hash does not match." in html
    assert 'href="/events/2/"' in html
