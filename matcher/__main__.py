"""`python -m matcher` runs the `carematch` command line."""

from matcher.cli import app

app(prog_name="carematch")
