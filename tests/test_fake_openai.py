"""The fake OpenAI server speaks what the real ``openai`` client sends and parses."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.fakes.openai import API_KEY, MODEL, SCENARIOS, FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "hello"}]


def client_for(url: str, *, key: str = API_KEY, retries: int = 2) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=url, timeout=5.0, max_retries=retries)


@pytest.mark.parametrize(
    ("scenario", "finish_reason", "has_content", "has_refusal"),
    [
        ("valid", "stop", True, False),
        ("malformed", "stop", True, False),
        ("refusal", "stop", False, True),
        ("truncated", "length", True, False),
        ("content_filter", "content_filter", False, False),
        ("injection", "stop", True, False),
    ],
)
def test_each_scripted_completion_parses_in_the_real_client(
    fake_openai: FakeOpenAI, settings, scenario, finish_reason, has_content, has_refusal  # type: ignore[no-untyped-def]
) -> None:
    fake_openai.script(scenario)
    completion = client_for(settings.OPENAI_BASE_URL).chat.completions.create(model=MODEL, messages=MESSAGES)
    choice = completion.choices[0]
    assert choice.finish_reason == finish_reason
    assert bool(choice.message.content) is has_content
    assert bool(choice.message.refusal) is has_refusal
    assert completion.model == MODEL and completion.object == "chat.completion"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_an_empty_script_answers_with_the_default_scenario(fake_openai: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    completion = client_for(settings.OPENAI_BASE_URL).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == SCENARIOS["valid"].content


@pytest.mark.parametrize(("scenario", "error"), [("http_500", openai.InternalServerError),
                                                 ("http_429", openai.RateLimitError)])
def test_errors_are_retried_and_each_attempt_is_counted(fake_openai: FakeOpenAI, settings, scenario, error) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(scenario, scenario)
    with pytest.raises(error):
        client_for(settings.OPENAI_BASE_URL, retries=1).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert fake_openai.count() == 2


def test_a_wrong_key_gets_401_and_an_unknown_path_404(fake_openai: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.AuthenticationError):
        client_for(settings.OPENAI_BASE_URL, key="sk-wrong").chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(openai.NotFoundError):
        client_for(settings.OPENAI_BASE_URL).models.list()
    assert fake_openai.count() == 1 and fake_openai.count("/v1/models") == 1


def test_the_fake_runs_by_hand_on_a_given_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai", "--port", str(port), "--scenario", "refusal"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = f"http://127.0.0.1:{port}/v1"
        assert f"OPENAI_BASE_URL={url}" in banner
        completion = client_for(url).chat.completions.create(model=MODEL, messages=MESSAGES)
        assert completion.choices[0].message.refusal
    finally:
        process.terminate()
        process.wait(timeout=10)
