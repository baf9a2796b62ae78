"""The webhooks file: what it must say, and re-reading it on SIGHUP in a real API process."""

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluicegate.api.auth.webhooks_file import Webhooks, load_webhooks
from sluicegate.errors import ConfigurationError
from tests.waiting import wait_for


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[webhooks.Bad]\nverify = "none"\n', "the name is the queue"),
        ('[webhooks.a]\nverify = "hmac"\n', "verify must be one of"),
        ('[webhooks.a]\nverify = "github"\n', "needs at least one secret"),
        ('[webhooks.a]\nverify = "standard-webhooks"\nsecrets = ["plain"]\n', "whsec_<base64>"),
        (
            '[webhooks.a]\nverify = "standard-webhooks"\nsecrets = ["whsec_!!"]\n',
            "not valid base64",
        ),
        ('[webhooks.a]\nverify = "none"\nsecret = "x"\n', "needs verify"),
        ("[other]\n", "expected only [webhooks.NAME]"),
        ("[webhooks.a\n", "WEBHOOKS_FILE"),
    ],
)
def test_a_bad_file_names_the_mistake(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "webhooks.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=says.replace("[", r"\[")):
        load_webhooks(path)


def test_a_failed_reload_keeps_the_webhooks_in_force(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.toml"
    path.write_text('[webhooks.a]\nverify = "github"\nsecrets = ["s"]\n')
    webhooks = Webhooks(path)
    path.write_text("[webhooks.a\n")
    assert webhooks.reload() is False
    assert webhooks.get("a") is not None


@pytest.mark.slow
def test_sighup_adds_a_webhook_without_a_restart(launch: Any, tmp_path: Path) -> None:
    path = tmp_path / "webhooks.toml"
    path.write_text('[webhooks.first]\nverify = "none"\n')
    api = launch(WEBHOOKS_FILE=str(path))
    url = f"http://127.0.0.1:{api.port()}/v1/webhooks/"
    assert httpx.post(url + "second", content=b"{}").status_code == 404

    path.write_text('[webhooks.first]\nverify = "none"\n\n[webhooks.second]\nverify = "none"\n')
    api.signal(signal.SIGHUP)
    wait_for(lambda: api.first("webhooks-reloaded"), message="the reload")
    assert httpx.post(url + "second", content=b"{}").status_code == 202
    assert httpx.post(url + "first", content=b"{}").status_code == 202


@pytest.mark.slow
def test_a_bad_file_at_startup_exits_2(launch: Any, tmp_path: Path) -> None:
    path = tmp_path / "webhooks.toml"
    path.write_text('[webhooks.a]\nverify = "github"\n')
    api = launch(WEBHOOKS_FILE=str(path))
    assert api.wait() == 2
    assert "needs at least one secret" in api.first("api-configuration-error")["message"]
