"""Size and value limits on every input, in one place (documented in docs/limits.md).

An input that passes validation goes to the solver, and the solver's time and memory
grow with the number of visits, workers and places (a 10,000-visit package once built a
model for ten minutes in 9.5 GB per process before the time limit was even looked at).
So the schema (`matcher.schema`) refuses, at once and naming the limit, anything bigger
than what these constants admit; every number that reaches the solver is bounded too,
because OR-Tools refuses coefficients near 2^63 with a traceback, not an error.

Each limit is several times the largest real input in the repository, measured when
the limits were chosen (the samples, the regional benchmark markets, `urban_market(40)`
and the HHCRSP instances through `matcher.hhcrsp.adapter`):

| what                           | largest real          | limit   |
|--------------------------------|-----------------------|---------|
| visits a week in one problem   | 520 (HHCRSP 400)      | 2,000   |
|   or one agency of a market    | 994 (urban_market(40))|         |
| visits a week in one package   | 28                    | 200     |
| pattern lines in one package   | 4                     | 50      |
| workers in one problem/agency  | 80 (HHCRSP 400)       | 500     |
| packages in one problem/agency | 400 (HHCRSP 400)      | 2,000   |
| travel matrix places           | 480 (HHCRSP 400)      | 2,500   |
| travel matrix minutes          | 110.5                 | 1,440   |
| agencies in a market           | 40                    | 500     |
| id length                      | 25                    | 200     |
| name / task length             | 35                    | 200     |
| hourly rate (pence)            | 2,600                 | 100,000 |
| budget (pence)                 | 2,602,600             | 10^9    |
| objective weight               | 100,000               | 10^6    |

Minutes within a day are at most 1,440 and within a week 10,080, whatever the field.
"""

from __future__ import annotations

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY

MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 200  # names, tasks, skills
MAX_SKILLS = 100  # known skills of a problem or market; skills of a worker or a line
MAX_TASKS = 50

MAX_PROBLEM_VISITS = 2_000  # concrete visits a week, one agency
MAX_PACKAGE_VISITS = 200  # concrete visits a week, one package
MAX_PACKAGE_LINES = 50
MAX_LINKS = 50
MAX_WORKERS = 500
MAX_PACKAGES = 2_000
MAX_SHIFTS_PER_DAY = 24
MAX_CLIENT_WORKER_LISTS = 500  # preferred or excluded workers of a client
MAX_MATRIX_PLACES = 2_500
MAX_TRAVEL_MINUTES = float(MINUTES_PER_DAY)
MAX_AGENCIES = 500
MAX_ROSTER_ASSIGNMENTS = MAX_PROBLEM_VISITS

MAX_RATE_PENCE = 100_000  # £1,000 an hour
MAX_BUDGET_PENCE = 1_000_000_000  # £10 million
MAX_WEIGHT = 1_000_000
MAX_GAP_MIN = MINUTES_PER_DAY
MAX_RADIUS_KM = 1_000.0
MAX_SPEED_KMH = 300.0
MIN_SPEED_KMH = 0.5
MAX_DETOUR = 10.0
MAX_FIXED_MIN = 240

# A file the command line reads: the largest committed one (market_urban.json) is
# 1.4 MB; a 200-agency market written out is about 35 MB.
MAX_INPUT_BYTES = 64 * 1024 * 1024
