"""One settings object for every process (Streamlit, voice server, bot, CLI).

Read from the environment and `.env`. A wrong or half configuration fails at start with a
message naming the variable and what to do (`ConfigError`).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from agent import Policy
    from db.load_models import CallPlan

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
    # A PostgreSQL call (query or connect) that has not answered by then fails as unavailable.
    database_timeout_secs: float = Field(default=5.0, gt=0)
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
    # With RETELL_API_KEY set, an LLM socket for a call id Retell does not know is refused.
    retell_verify_call_ids: bool = True
    # An LLM socket with no frame for this long is closed (Retell pings every 2 s).
    retell_socket_idle_secs: float = Field(default=60.0, gt=0)

    # Where emergencies are handed to a human (E.164). Without it the agent never promises a
    # transfer: the driver is told the office will call back, and the office is alerted.
    dispatch_transfer_number: str | None = None
    # Phone numbers typed without +<country code> are read as numbers of this region (ISO 3166).
    default_phone_region: str = "US"
    # The office's time zone (IANA name): every time the app shows, and every day it filters by.
    dispatch_timezone: str = "UTC"
    # Optional: an emergency alert is also POSTed here as signed JSON (HMAC-SHA256 with the
    # secret, see db/webhook_outbox.py), through a durable outbox with retries.
    dispatch_alert_webhook_url: str | None = None
    dispatch_alert_webhook_secret: SecretStr | None = None

    # Where the Streamlit app and the bot reach the voice server; where the bot runner listens.
    voice_server_url: str = "http://127.0.0.1:8000"
    bot_url: str = "http://127.0.0.1:7860"
    # Several bot processes (comma-separated base URLs): a new Pipecat session goes to the
    # least-loaded one that answers its /dispatch/health. Unset: BOT_URL alone (which may be a
    # load balancer in front of any number of bots: sessions live in the database).
    bot_urls: str | None = None
    # How long the voice server waits for a bot's /dispatch/health when choosing one.
    bot_health_timeout_secs: float = Field(default=1.0, gt=0, le=10)
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

    # Pipecat bot services: offline by default; a cloud service only when chosen with its key.
    # BOT_STT unset: Deepgram when DEEPGRAM_API_KEY is set, else Whisper on this machine.
    bot_stt: Literal["whisper", "deepgram"] | None = None
    whisper_model_dir: str | None = None  # a CTranslate2 Whisper model; unset: bundled tiny.en
    # Seconds of audio Whisper's encoder reads (a line is padded with silence up to it; a longer
    # line is read whole). Whisper's own 30 s window cost most of a turn's wait on two cores.
    bot_whisper_window_secs: float = Field(default=10.0, ge=1.0, le=30.0)
    # Whisper's beam search width: in the 10 s window, greedy (1) misheard "broke down".
    bot_whisper_beam_size: int = Field(default=5, ge=1, le=10)
    bot_tts: Literal["piper", "espeak", "cartesia"] = "piper"
    # Piper speaks a reply clause by clause, each chunk synthesized while the one before plays;
    # the first chunk is the first clause once it has this many words. Lower (2: "Got it,")
    # starts speaking sooner but needs CPU to spare: on a loaded machine the next chunk took
    # over 1 s to synthesize and the driver heard "Hi Ann," then a pause.
    bot_tts_first_chunk_words: int = Field(default=6, ge=1, le=50)
    # Turn-taking: the VAD ends a stretch of speech after BOT_VAD_STOP_SECS of silence (shorter
    # cuts a sentence at a pause: espeak-ng pauses 0.34 s between sentences), and the driver's
    # turn ends BOT_USER_SPEECH_TIMEOUT_SECS later, once the stretch is transcribed.
    bot_vad_stop_secs: float = Field(default=0.4, ge=0.1, le=3.0)
    bot_user_speech_timeout_secs: float = Field(default=0.2, ge=0.0, le=5.0)
    deepgram_api_key: SecretStr | None = None
    deepgram_base_url: str | None = None  # self-hosted Deepgram (or a local double in tests)
    cartesia_api_key: SecretStr | None = None
    cartesia_voice_id: str = "71a7ad14-091c-4e8e-a314-022ece01c121"
    # Each bot process holds its own spool file: others on the host take `<path>.1`, `.2`, ...
    pipecat_spool_path: str = "data/pipecat_spool.jsonl"
    # Twilio media streams: with both set, the bot hangs up and transfers through Twilio's API.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # The voice server's public https URL: Twilio posts a transfer's outcome (the <Dial> action)
    # to it, and checks its X-Twilio-Signature against it. Without it a Twilio transfer stays
    # "Transfer Requested" (Twilio's answer to the redirect does not say a human picked up).
    voice_server_public_url: str | None = None

    # Call recordings (Pipecat calls, driver left / bot right): a local folder, or a private
    # Supabase Storage bucket when Supabase is configured; deleted after the retention period
    # by `python -m db expire-recordings` (none: kept forever).
    recordings_dir: str = "data/recordings"
    recordings_bucket: str = Field(default="recordings", pattern=r"^[a-z0-9][a-z0-9_.-]{1,62}$")
    recording_retention_days: int | None = Field(default=90, ge=1)

    # Durable local outbox for writes that could not reach the database.
    outbox_path: str = "data/outbox.jsonl"
    # Threads for the voice server's blocking database work (its own pool, not asyncio's).
    voice_server_db_threads: int = Field(default=32, ge=2, le=512)

    @field_validator("default_phone_region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        return value.strip().upper()

    # Scheduled check calls (`python -m scheduler`): the call plan every load starts from (a
    # load's own plan overrides fields). Quiet hours are in the driver's local time.
    call_plan_every_hours: float = Field(default=4.0, ge=0)
    call_plan_before_delivery_minutes: int = Field(default=60, ge=0)
    call_plan_after_delivery_minutes: int = Field(default=30, ge=0)
    call_plan_quiet_hours: str = "22:00-06:00"
    call_plan_engine: Literal["retell", "pipecat", "simulated"] = "simulated"
    call_plan_max_attempts: int = Field(default=3, ge=1, le=10)
    call_plan_retry_minutes: int = Field(default=10, ge=1)
    # A slot missed while no scheduler ran is skipped once it is this late (0: always placed).
    scheduler_skip_late_minutes: float = Field(default=30.0, ge=0)
    # Unsettled calls per engine across every scheduler (Retell's concurrency limit).
    scheduler_concurrency: str = "retell=20,pipecat=10,simulated=4"
    # A placed call with no result after this long is settled as failed (and retried).
    scheduler_result_timeout_minutes: float = Field(default=120.0, gt=0)
    scheduler_emergency_followup_minutes: float = Field(default=30.0, gt=0)
    # How long a claimed slot is owned while its call is being started (then it lapses).
    scheduler_lease_secs: float = Field(default=60.0, gt=0)
    # Every finished call about a load, signed, to the TMS (durable outbox with retries).
    tms_webhook_url: str | None = None
    tms_webhook_secret: SecretStr | None = None

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
        try:
            ZoneInfo(self.dispatch_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"DISPATCH_TIMEZONE={self.dispatch_timezone!r} is not a time zone: use an IANA "
                "name such as America/Chicago, America/New_York or UTC."
            ) from None
        if self.default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"DEFAULT_PHONE_REGION={self.default_phone_region!r} is not a region code: use "
                "two letters (ISO 3166-1), e.g. US, CA, MX, GB."
            )
        if self.dispatch_transfer_number and not re.fullmatch(
            r"\+[1-9]\d{6,14}", self.dispatch_transfer_number
        ):
            raise ValueError(
                "DISPATCH_TRANSFER_NUMBER must be an E.164 number such as +13125550199."
            )
        if self.dispatch_alert_webhook_url:
            if not self.dispatch_alert_webhook_url.startswith(("http://", "https://")):
                raise ValueError("DISPATCH_ALERT_WEBHOOK_URL must start with https://.")
            if not self.dispatch_alert_webhook_secret:
                raise ValueError(
                    "DISPATCH_ALERT_WEBHOOK_URL is set but DISPATCH_ALERT_WEBHOOK_SECRET is "
                    'missing: alerts are signed with it (python -c "import secrets; '
                    'print(secrets.token_urlsafe(32))").'
                )
        if self.agent_llm == "openai" and not self.openai_api_key:
            raise ValueError("AGENT_LLM=openai needs OPENAI_API_KEY (or set AGENT_LLM=rules).")
        if self.tms_webhook_url and not self.tms_webhook_secret:
            raise ValueError(
                "TMS_WEBHOOK_URL is set but TMS_WEBHOOK_SECRET is missing: set a shared secret "
                "the TMS verifies signatures with (or unset TMS_WEBHOOK_URL)."
            )
        if self.tms_webhook_url and not self.tms_webhook_url.startswith(("http://", "https://")):
            raise ValueError("TMS_WEBHOOK_URL must be an http(s) URL.")
        for url in self.bot_url_list:
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"BOT_URLS entry {url!r} is not a bot's http(s) address: list base URLs "
                    "separated by commas, e.g. http://10.0.0.5:7860,http://10.0.0.6:7860."
                )
        self.default_call_plan()  # a wrong quiet-hours value stops the process here
        self.engine_concurrency()
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

    def default_call_plan(self) -> CallPlan:
        """The call plan a load follows unless its own plan overrides fields."""
        from db.load_models import CallPlan

        start, separator, end = self.call_plan_quiet_hours.partition("-")
        if not separator:
            raise ValueError(
                f"CALL_PLAN_QUIET_HOURS={self.call_plan_quiet_hours!r} must look like 22:00-06:00"
                " (equal times: no quiet hours)."
            )
        return CallPlan(
            every_hours=self.call_plan_every_hours,
            before_delivery_minutes=self.call_plan_before_delivery_minutes,
            after_delivery_minutes=self.call_plan_after_delivery_minutes,
            quiet_start=start.strip(),
            quiet_end=end.strip(),
            engine=self.call_plan_engine,
            max_attempts=self.call_plan_max_attempts,
            retry_minutes=self.call_plan_retry_minutes,
        )

    def engine_concurrency(self) -> dict[str, int]:
        """SCHEDULER_CONCURRENCY as {engine: cap}; engines not named get a cap of 1."""
        caps = {"retell": 1, "pipecat": 1, "simulated": 1}
        for item in self.scheduler_concurrency.split(","):
            name, _, value = item.strip().partition("=")
            if name.strip() not in caps or not value.strip().isdigit() or int(value) < 1:
                raise ValueError(
                    f"SCHEDULER_CONCURRENCY item {item.strip()!r} must be engine=N with engine "
                    "one of retell, pipecat, simulated and N at least 1."
                )
            caps[name.strip()] = int(value)
        return caps

    @property
    def bot_url_list(self) -> list[str]:
        """The bots a Pipecat session may be placed on: BOT_URLS, else BOT_URL alone."""
        urls = [u.strip().rstrip("/") for u in (self.bot_urls or "").split(",") if u.strip()]
        return urls or [self.bot_url.rstrip("/")]

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
