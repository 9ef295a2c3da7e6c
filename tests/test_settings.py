"""Settings: one object for every process; a wrong or half configuration names the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from settings import ROOT, ConfigError, load_settings, write_dev_env


def test_defaults_select_the_embedded_sqlite_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL")
    settings = load_settings()
    assert settings.database_backend == "sqlite"
    assert settings.sqlite_path == ROOT / "data" / "dispatch.db"
    assert settings.agent_llm == "rules"
    assert "traffic" in settings.keywords


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({"DATABASE_URL": "postgresql://u:p@db:5432/dispatch"}, "postgres"),
        ({"DATABASE_URL": "postgres://u:p@db/dispatch"}, "postgres"),
        ({"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "k"}, "supabase"),
    ],
)
def test_the_database_backend_follows_the_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], backend: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().database_backend == backend


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SUPABASE_URL": "https://abc.supabase.co"}, "SUPABASE_SERVICE_ROLE_KEY"),
        ({"SUPABASE_SERVICE_ROLE_KEY": "k"}, "SUPABASE_URL"),
        ({"SUPABASE_URL": "abc.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "k"}, "https://"),
        ({"DATABASE_URL": "mysql://root:hunter2@db/dispatch"}, "DATABASE_URL"),
        ({"AGENT_LLM": "openai"}, "OPENAI_API_KEY"),
        ({"AGENT_LLM": "gpt"}, "AGENT_LLM"),
        ({"OPENAI_TIMEOUT_SECS": "soon"}, "OPENAI_TIMEOUT_SECS"),
        ({"DISPATCH_TRANSFER_NUMBER": "312-555-0199"}, "DISPATCH_TRANSFER_NUMBER"),
        ({"DISPATCH_ALERT_WEBHOOK_URL": "https://oncall.example/hook"}, "SECRET"),
        (
            {"DISPATCH_ALERT_WEBHOOK_URL": "oncall.example", "DISPATCH_ALERT_WEBHOOK_SECRET": "s"},
            "DISPATCH_ALERT_WEBHOOK_URL",
        ),
    ],
)
def test_a_wrong_or_half_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value)


def test_a_database_password_never_appears_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2@db/dispatch")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


def test_secrets_are_not_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_API_KEY", "super-secret-key")
    settings = load_settings()
    assert "super-secret-key" not in repr(settings)
    assert settings.dispatch_api_key is not None
    assert settings.dispatch_api_key.get_secret_value() == "super-secret-key"


def test_a_dev_env_file_gets_fresh_random_keys_and_is_never_overwritten(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    write_dev_env(env_file)
    first = env_file.read_text()
    keys = dict(
        line.split("=", 1) for line in first.splitlines() if line and not line.startswith("#")
    )
    assert set(keys) == {"DISPATCH_API_KEY", "PIPECAT_API_KEY"}
    assert all(len(value) >= 32 for value in keys.values())
    assert keys["DISPATCH_API_KEY"] != keys["PIPECAT_API_KEY"]
    write_dev_env(env_file)
    assert env_file.read_text() == first


def test_an_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("RETELL_AGENT_ID=agent_from_file\nOPENAI_MODEL=from-file\n")
    code = (
        "from settings import get_settings; s = get_settings(); "
        "print(s.retell_agent_id, s.openai_model)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"DISPATCH_ENV_FILE": str(env_file), "OPENAI_MODEL": "from-env", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["agent_from_file", "from-env"]
