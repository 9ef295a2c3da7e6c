"""One settings object for every process (Streamlit, voice server, bot, CLI).

Read from the environment and `.env`. A wrong or half configuration fails at start with a
message naming the variable and what to do (`ConfigError`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from agent import Policy

ROOT = Path(__file__).resolve().parent


class ConfigError(RuntimeError):
    """The configuration cannot work; the message names the variable and the fix."""


DatabaseBackend = Literal["sqlite", "postgres", "supabase"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=os.environ.get("DISPATCH_ENV_FILE", str(ROOT / ".env")) or None,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # Database: SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY select Supabase; otherwise DATABASE_URL.
    database_url: str = "sqlite:///data/dispatch.db"
    supabase_url: str | None = None
    supabase_service_role_key: SecretStr | None = None

    # API keys guarding our own endpoints.
    dispatch_api_key: SecretStr | None = None
    pipecat_api_key: SecretStr | None = None

    # Retell.
    retell_api_key: SecretStr | None = None
    retell_agent_id: str | None = None
    retell_from_number: str | None = None
    retell_base_url: str = "https://api.retellai.com"

    # Where emergencies are handed to a human (E.164).
    dispatch_transfer_number: str | None = None
    # Phone numbers typed without +<country code> are read as numbers of this region (ISO 3166).
    default_phone_region: str = "US"

    # Where the Streamlit app and the bot reach the voice server; where the bot runner listens.
    voice_server_url: str = "http://127.0.0.1:8000"
    bot_url: str = "http://127.0.0.1:7860"
    # The Trigger call page hangs up a simulated call after this long without the driver's input.
    simulated_call_idle_secs: float = Field(default=600.0, gt=0)

    # The dispatch agent's policy and analysis.
    agent_llm: Literal["rules", "openai"] = "rules"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_secs: float = 4.0
    agent_keywords: str = (
        "traffic,accident,breakdown,weather,detention,lumper,delay,construction,"
        "injury,police,tire,fuel,inspection,appointment"
    )

    # Pipecat bot services.
    bot_tts: Literal["espeak", "cartesia"] = "espeak"
    deepgram_api_key: SecretStr | None = None
    deepgram_base_url: str | None = None  # self-hosted Deepgram (or a local double in tests)
    cartesia_api_key: SecretStr | None = None
    cartesia_voice_id: str = "71a7ad14-091c-4e8e-a314-022ece01c121"
    pipecat_spool_path: str = "data/pipecat_spool.jsonl"
    # Twilio media streams: with both set, the bot hangs up and transfers through Twilio's API.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None

    # Durable local outbox for writes that could not reach the database.
    outbox_path: str = "data/outbox.jsonl"

    @field_validator("default_phone_region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        return value.strip().upper()

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.supabase_url and not self.supabase_service_role_key:
            raise ValueError(
                "SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY is missing: set it to the "
                "project's service_role key (Project Settings > API), or unset SUPABASE_URL."
            )
        if self.supabase_service_role_key and not self.supabase_url:
            raise ValueError(
                "SUPABASE_SERVICE_ROLE_KEY is set but SUPABASE_URL is missing: set it to "
                "https://<project>.supabase.co, or unset SUPABASE_SERVICE_ROLE_KEY."
            )
        if self.supabase_url and not self.supabase_url.startswith(("http://", "https://")):
            raise ValueError(
                "SUPABASE_URL must start with https:// (e.g. https://abc.supabase.co)."
            )
        if not self.supabase_url and not self.database_url.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise ValueError(
                # Only the scheme is shown: the rest of the URL may hold a password.
                f"DATABASE_URL scheme {self.database_url.split(':', 1)[0]!r} is not supported: "
                "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname."
            )
        if self.default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"DEFAULT_PHONE_REGION={self.default_phone_region!r} is not a region code: use "
                "two letters (ISO 3166-1), e.g. US, CA, MX, GB."
            )
        if self.agent_llm == "openai" and not self.openai_api_key:
            raise ValueError("AGENT_LLM=openai needs OPENAI_API_KEY (or set AGENT_LLM=rules).")
        if self.bot_tts == "cartesia" and not self.cartesia_api_key:
            raise ValueError("BOT_TTS=cartesia needs CARTESIA_API_KEY (or set BOT_TTS=espeak).")
        return self

    @property
    def database_backend(self) -> DatabaseBackend:
        if self.supabase_url:
            return "supabase"
        if self.database_url.startswith("sqlite:///"):
            return "sqlite"
        return "postgres"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file, relative paths taken from the repository root."""
        path = Path(self.database_url.removeprefix("sqlite:///"))
        return path if path.is_absolute() else ROOT / path

    def agent_policy(self) -> Policy:
        """The dispatch agent's conversation policy these settings select (rules or OpenAI)."""
        from agent import make_policy

        key = self.openai_api_key.get_secret_value() if self.openai_api_key else None
        return make_policy(
            self.agent_llm,
            openai_base_url=self.openai_base_url,
            openai_api_key=key,
            openai_model=self.openai_model,
            openai_timeout_secs=self.openai_timeout_secs,
        )

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(k.strip().lower() for k in self.agent_keywords.split(",") if k.strip())


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one actionable `ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p).upper() for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise ConfigError("Invalid configuration. " + " ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def write_dev_env(path: Path = ROOT / ".env") -> None:
    """A local `.env` with fresh random API keys, so a clone runs with no accounts."""
    import secrets

    if path.exists():
        return
    path.write_text(
        "# Generated for local use by `make run`; see .env.example for every variable.\n"
        f"DISPATCH_API_KEY={secrets.token_urlsafe(32)}\n"
        f"PIPECAT_API_KEY={secrets.token_urlsafe(32)}\n"
    )
    print(f"Wrote {path} with fresh DISPATCH_API_KEY and PIPECAT_API_KEY.")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["init-env"]:
        write_dev_env()
    else:
        sys.exit("usage: python settings.py init-env")
