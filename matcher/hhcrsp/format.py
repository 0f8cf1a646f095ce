"""The JSON files of the public HHCRSP benchmark (Mankowska et al. 2014, iolab-uniud/hhcrsp).

These models read the benchmark's own files, not ours, so they follow what the files
and the public validator (`validator/` of iolab-uniud/hhcrsp) actually accept rather
than what its README promises:

- the toy instance's patients have no `location`, so it is optional;
- a required service may omit `duration` (the README says the service's
  `default_duration` then applies); `Instance.duration` resolves it;
- the published solutions spell a visit's keys `patient` / `service`, the toy
  optimum `patient_id` / `service_id`: both are read, and we write the first
  spelling, which the old validator and the newer hhcrsp-toolbox both accept;
- a caregiver with nothing to do appears as `{"caregiver_id": "c6"}` with no
  `locations`, so it defaults to empty;
- a visit's `arrival_time` is the start of service (the validator reads it so and the
  published files wait before it), and `departure_time` its end.

The matrix index of a patient is its position in `patients` plus one (index 0 is the
central office), exactly as the validator computes it; in every published file that is
also the number in its id (`p7` is row 7). Unknown keys are ignored, because the
benchmark family has grown fields (the toolbox adds `arrival_at_patient`) that do not
change the Mankowska problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

__all__ = [
    "Caregiver",
    "CentralOffice",
    "Instance",
    "Patient",
    "RequiredService",
    "Route",
    "Service",
    "Solution",
    "Synchronization",
    "Visit",
    "load_best_known",
    "load_instance",
    "load_solution",
    "write_solution",
]

Id = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    """Base of every benchmark model: immutable, unknown keys ignored (see module doc)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Synchronization(_Model):
    """How a patient's two services are tied: same start, or the second min..max later.

    "Second" is the second entry of the patient's `required_caregivers`, as in the
    validator; a simultaneous pair is a sequential one with gap [0, 0].
    """

    type: Literal["simultaneous", "sequential"]
    distance: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _gap_given_for_sequential(self) -> Self:
        if self.type == "sequential":
            if self.distance is None:
                raise ValueError("a sequential synchronization needs distance [min, max]")
            if not 0 <= self.distance[0] <= self.distance[1]:
                raise ValueError(f"distance {list(self.distance)} must be 0 <= min <= max")
        return self

    @property
    def gap(self) -> tuple[float, float]:
        """The allowed start(second) - start(first), [0, 0] when simultaneous."""
        if self.type == "simultaneous":
            return (0.0, 0.0)
        assert self.distance is not None  # checked by the validator above
        return self.distance


class RequiredService(_Model):
    """One caregiver a patient needs: which service, for how long (None: the default)."""

    service: Id
    duration: PositiveFloat | None = None


class Patient(_Model):
    """A patient: where, the window in which service should start, one or two services."""

    id: Id
    location: tuple[float, float] | None = None
    time_window: tuple[float, float]
    required_caregivers: Annotated[list[RequiredService], Field(min_length=1, max_length=2)]
    synchronization: Synchronization | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.time_window[0] > self.time_window[1]:
            raise ValueError(f"patient {self.id}: time_window {list(self.time_window)} runs back")
        services = [r.service for r in self.required_caregivers]
        if len(set(services)) != len(services):
            raise ValueError(f"patient {self.id}: the same service is required twice")
        if len(services) == 2 and self.synchronization is None:
            raise ValueError(f"patient {self.id}: two services need a synchronization")
        if len(services) == 1 and self.synchronization is not None:
            raise ValueError(f"patient {self.id}: a single service cannot be synchronised")
        return self

    @property
    def services(self) -> list[str]:
        """The required service ids, in file order (which fixes "first" for sequential)."""
        return [r.service for r in self.required_caregivers]


class Service(_Model):
    """A kind of care, with the duration that applies when a patient gives none."""

    id: Id
    default_duration: PositiveFloat


class Caregiver(_Model):
    """A caregiver and the services they may perform."""

    id: Id
    abilities: list[Id]


class CentralOffice(_Model):
    """The depot every route leaves from and returns to (matrix index 0)."""

    id: Id
    location: tuple[float, float] | None = None


class Instance(_Model):
    """A whole benchmark instance, with references and the matrix size checked."""

    patients: Annotated[list[Patient], Field(min_length=1)]
    services: list[Service]
    caregivers: Annotated[list[Caregiver], Field(min_length=1)]
    central_offices: Annotated[list[CentralOffice], Field(min_length=1, max_length=1)]
    distances: list[list[NonNegativeFloat]]

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        for kind, ids in (
            ("patient", [p.id for p in self.patients]),
            ("service", [s.id for s in self.services]),
            ("caregiver", [c.id for c in self.caregivers]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {kind} id")
        known = {s.id for s in self.services}
        for caregiver in self.caregivers:
            if unknown := set(caregiver.abilities) - known:
                raise ValueError(f"caregiver {caregiver.id}: unknown abilities {sorted(unknown)}")
        for patient in self.patients:
            if unknown := set(patient.services) - known:
                raise ValueError(f"patient {patient.id}: unknown services {sorted(unknown)}")
        size = len(self.patients) + 1
        if len(self.distances) != size or any(len(row) != size for row in self.distances):
            raise ValueError(f"distances must be {size}x{size} (depot + {size - 1} patients)")
        return self

    def matrix_indices(self) -> dict[str, int]:
        """Patient id -> row/column in `distances`: position + 1, as the validator has it.

        Built on each call (models are frozen and `model_copy` would carry a stale
        cache); callers that look up many patients keep the dict.
        """
        return {patient.id: i + 1 for i, patient in enumerate(self.patients)}

    def duration(self, patient: Patient, service_id: str) -> float:
        """How long `service_id` takes at `patient`: its own duration, else the default."""
        required = next(r for r in patient.required_caregivers if r.service == service_id)
        if required.duration is not None:
            return required.duration
        return next(s.default_duration for s in self.services if s.id == service_id)


class Visit(_Model):
    """One service given by one caregiver: `arrival_time` is when service starts."""

    patient_id: Id = Field(
        validation_alias=AliasChoices("patient", "patient_id"), serialization_alias="patient"
    )
    service_id: Id = Field(
        validation_alias=AliasChoices("service", "service_id"), serialization_alias="service"
    )
    arrival_time: float
    departure_time: float


class Route(_Model):
    """A caregiver's visits in the order driven: depot -> visits -> depot (implicit)."""

    caregiver_id: Id = Field(validation_alias=AliasChoices("caregiver_id", "caregiver"))
    locations: list[Visit] = Field(default_factory=list)


class Solution(_Model):
    """Routes for every caregiver; `global_ordering` is informative (the validator ignores it)."""

    routes: list[Route]
    global_ordering: list[str] = Field(default_factory=list)


def load_instance(path: Path | str) -> Instance:
    """Read a benchmark instance file; raises pydantic.ValidationError if it is malformed."""
    return Instance.model_validate_json(Path(path).read_text())


def load_solution(path: Path | str) -> Solution:
    """Read a benchmark solution file (either key spelling, see the module docstring)."""
    return Solution.model_validate_json(Path(path).read_text())


def write_solution(solution: Solution, path: Path | str) -> None:
    """Write `solution` in the benchmark's format, the spelling of the published files.

    When `global_ordering` is empty it is filled with the patients ordered by their
    first service start, so the file has every key the published ones have. Every
    caregiver of the instance must have a route (possibly empty) for the public
    validator to accept the file; `evaluate` reports a missing one.
    """
    ordering = solution.global_ordering or _ordering_by_first_start(solution)
    document = {
        "routes": [
            {
                "caregiver_id": route.caregiver_id,
                "locations": [
                    visit.model_dump(mode="json", by_alias=True) for visit in route.locations
                ],
            }
            for route in solution.routes
        ],
        "global_ordering": ordering,
    }
    Path(path).write_text(json.dumps(document, indent=1) + "\n")


def _ordering_by_first_start(solution: Solution) -> list[str]:
    first: dict[str, float] = {}
    for route in solution.routes:
        for visit in route.locations:
            first[visit.patient_id] = min(
                first.get(visit.patient_id, visit.arrival_time), visit.arrival_time
            )
    return sorted(first, key=lambda patient_id: (first[patient_id], patient_id))


def load_best_known(path: Path | str) -> dict[str, float]:
    """Published best total cost per instance name (without `.json`), from best_known.md.

    The file is the markdown table the repository's `extract_best` writes; columns are
    found by their header, so a reordered or extended table still reads.
    """
    lines = [line for line in Path(path).read_text().splitlines() if line.startswith("|")]
    if len(lines) < 2:
        raise ValueError(f"{path}: no markdown table")
    header = [cell.strip() for cell in lines[0].strip().strip("|").split("|")]
    try:
        name_column, cost_column = header.index("instance"), header.index("total_cost")
    except ValueError as error:
        raise ValueError(f"{path}: header needs 'instance' and 'total_cost'") from error
    costs: dict[str, float] = {}
    for line in lines[2:]:  # skip the header and the |:---| alignment row
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = cells[name_column].removesuffix(".json")
        costs[name] = float(cells[cost_column])
    return costs
