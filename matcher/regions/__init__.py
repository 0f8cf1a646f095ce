"""Rural versus urban: regional datasets, today's email round and carematch, compared.

`places` (real GeoNames towns and districts), `generate` (seeded regions),
`email_round` (today's practice), `simulate` (the period, day by day, per method),
`outcomes` (checked final rosters to figures), `bench` and `plot` (the CLI's
`carematch bench regions`). See docs/regions.md.
"""

from matcher.regions.bench import run_regions
from matcher.regions.email_round import EmailReply, email_reply
from matcher.regions.generate import Arrival, Region, make_region
from matcher.regions.outcomes import RosterBroken, outcomes
from matcher.regions.simulate import SimulationParams, SimulationResult, simulate

__all__ = [
    "Arrival",
    "EmailReply",
    "Region",
    "RosterBroken",
    "SimulationParams",
    "SimulationResult",
    "email_reply",
    "make_region",
    "outcomes",
    "run_regions",
    "simulate",
]
