"""Rate limits per API key on package submissions (`POST /v1/packages`).

Each submission queues a match that costs seconds of CPU across every agency, so one
broker's runaway script could starve every other broker. Submissions are counted per
API key in a moving window (the `limits` library: the same algorithm and storages as
Flask-Limiter and SlowAPI), and one over the limit is answered `429` problem+json with
`Retry-After`, before its body is looked at and before anything is stored.

- `CAREMATCH_SUBMIT_RATE_LIMIT`: the limit of every key, in the `limits` notation
  ("6000/minute", "10/second;500/hour"); empty switches limiting off. The default is
  generous (100 a second sustained over a minute), so that the service benchmarks'
  load generator, which submits with one key, is never limited; a deployment sets its
  own.
- `CAREMATCH_SUBMIT_RATE_LIMIT_BY_KEY`: per-key overrides, a JSON object from key id
  (the `cm_<id>` part before the dot, never the secret) to a limit.
- `CAREMATCH_RATE_LIMIT_STORAGE_URL`: where counts live; `memory://` (default) counts
  per API process; `redis://host:port/db` shares the counts between API processes on
  several machines (the Redis of the Celery backend will do).
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from api.deps import Broker, SettingsDep
from api.problems import Problem
from api.security import Principal

NAMESPACE = "carematch-submit"


@lru_cache(maxsize=8)
def limiter(storage_url: str) -> RateLimiter:
    """One limiter per storage, shared by every app of the process (tests make many
    apps: their keys differ, so their counts never mix)."""
    return MovingWindowRateLimiter(storage_from_string(storage_url))


@lru_cache(maxsize=256)
def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """The limits of a setting ("10/second;500/hour"); none for an empty one."""
    return tuple(parse_many(text)) if text.strip() else ()


def check_submission(settings_limit: str, storage_url: str, key_id: str) -> None:
    """Count one submission by `key_id`; `Problem(429)` with `Retry-After` (whole
    seconds until the window lets one more in) if it is over any of its limits."""
    items = parse_limits(settings_limit)
    if not items:
        return
    rate = limiter(storage_url)
    for item in items:
        if not rate.hit(item, NAMESPACE, key_id):
            reset = rate.get_window_stats(item, NAMESPACE, key_id).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            raise Problem(
                429,
                f"more than {item} package submissions with this API key; try again in {wait} s",
                kind="rate-limited",
                headers={"Retry-After": str(wait)},
            )


def limit_submissions(principal: Broker, settings: SettingsDep) -> Principal:
    """The dependency of `POST /v1/packages`: the broker, once its submission is
    counted (after authentication, so an unknown key is 401, never 429)."""
    text = settings.submit_rate_limit_by_key.get(principal.key_id, settings.submit_rate_limit)
    check_submission(text, settings.rate_limit_storage_url, principal.key_id)
    return principal


SubmittingBroker = Annotated[Principal, Depends(limit_submissions)]
