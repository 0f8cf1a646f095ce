"""`python -m matcher.hhcrsp`: evaluate a benchmark solution, or report instance facts.

    python -m matcher.hhcrsp evaluate INSTANCE SOLUTION   # JSON cost; exit 0 feasible, 1 not
    python -m matcher.hhcrsp facts INSTANCE_DIR [--solutions SOLUTION_DIR]

`evaluate` prints the keys the public validator's `check-solution` prints
(distance_traveled, max_tardiness, total_tardiness, total_cost), plus `feasible` and
`violations`, so the two outputs can be compared line by line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from matcher.hhcrsp.evaluate import evaluate
from matcher.hhcrsp.facts import facts_report
from matcher.hhcrsp.format import load_instance, load_solution


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m matcher.hhcrsp")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("evaluate", help="cost and feasibility of a solution")
    check.add_argument("instance", type=Path)
    check.add_argument("solution", type=Path)
    facts = commands.add_parser("facts", help="markdown table of instance facts by size")
    facts.add_argument("instances", type=Path, help="folder of instance .json files")
    facts.add_argument("--solutions", type=Path, help="folder of sol-<name>-*.json files")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        result = evaluate(load_instance(args.instance), load_solution(args.solution))
        sys.stdout.write(json.dumps(result.summary()) + "\n")
        return 0 if result.feasible else 1
    sys.stdout.write(facts_report(sorted(args.instances.glob("*.json")), args.solutions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
