"""Service settings from the environment (`CAREMATCH_*`), with embedded defaults.

With no environment at all the service runs on a SQLite file in the working
directory with in-process job workers, so `carematch serve` needs no configuration.
"""

from __future__ import annotations

from functools import lru_cache

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.brokerage.policy import RankingPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREMATCH_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///carematch.db",
        description="SQLAlchemy URL; postgresql://... selects PostgreSQL (psycopg 3).",
    )
    workers: int = Field(default=1, ge=0, description="Job worker processes `serve` starts.")
    job_lease_s: float = Field(
        default=20.0,
        gt=0,
        description="A running job's claim lapses this long after its worker's last "
        "heartbeat; another worker then takes it over (a worker that died).",
    )
    heartbeat_s: float = Field(default=2.0, gt=0, description="Workers say they live this often.")
    job_max_attempts: int = Field(default=3, ge=1)
    poll_interval_s: float = Field(default=0.2, gt=0, description="Idle workers poll this often.")
    match_time_limit_s: float = Field(default=0.3, gt=0, description="Search limit per agency.")
    match_processes: int = Field(
        default=0, ge=0, description="Processes per match (0: one per core)."
    )
    match_deterministic: bool = Field(
        default=False,
        description="Limit each agency's search in CP-SAT deterministic time: the same "
        "offers for the same inputs on any machine and backend, however busy.",
    )
    # Scale-out (docs/scale-out.md): with a broker URL, jobs run on `carematch worker`s.
    broker_url: str | None = Field(
        default=None,
        description="redis://host:port/db: jobs run on Celery workers (`carematch worker`) "
        "instead of the embedded ones; unset: the embedded, zero-configuration backend.",
    )
    visibility_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="Redis hands an unacknowledged task to another worker after this long: "
        "longer than the longest job (a worker that died is noticed sooner, by its lease).",
    )
    redispatch_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A job still claimable this long after it was sent to the broker is "
        "sent again (a broker that lost its data); a duplicate finds it claimed and ends.",
    )
    sweep_interval_s: float = Field(
        default=5.0, gt=0, description="Workers look for such jobs this often."
    )
    ranking_policy: RankingPolicy = Field(
        default_factory=RankingPolicy,
        description="The council's ranking policy as JSON (docs/matching.md), e.g. "
        '{"order_by_contract": true, "weights": {"care": 0, "quality": 60, "price": 40}}; '
        "unset: the care score alone.",
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0, description="Larger bodies: 413.")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_max_backoff_s: float = Field(default=300.0, gt=0)
    outbox: bool = Field(default=True, description="The API process sends webhooks.")
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After on a queued package.")
    # Rate limits on package submissions, per API key (api/ratelimit.py, docs/limits.md).
    submit_rate_limit: str = Field(
        default="6000/minute",
        description='Package submissions per API key, in the `limits` notation ("10/second;'
        '500/hour"); empty: no limit. Over it: 429 with Retry-After.',
    )
    submit_rate_limit_by_key: dict[str, str] = Field(
        default_factory=dict,
        description="Per-key overrides: a JSON object from key id (the hex after cm_, "
        "before the dot) to a limit.",
    )
    rate_limit_storage_url: str = Field(
        default="memory://",
        description="Where submission counts live: memory:// (per API process) or "
        "redis://host:port/db (shared by every API process).",
    )

    @field_validator("submit_rate_limit")
    @classmethod
    def _limit_parses(cls, value: str) -> str:
        """A limit that does not parse fails at start, not on the first submission."""
        if value.strip():
            parse_many(value)
        return value

    @field_validator("submit_rate_limit_by_key")
    @classmethod
    def _limits_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            parse_many(text)
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (tests build their own `Settings`)."""
    return Settings()
