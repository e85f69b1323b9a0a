"""Who is rating on which dial: the config's table by device id, else in order of appearance."""

from __future__ import annotations

import logging
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from microdial.model import Code

log = logging.getLogger(__name__)


class DialEntry(BaseModel):
    """One dial in the config file: [daemon.dials."<device id>"]."""

    model_config = ConfigDict(extra="forbid")

    role: Code
    participant: Code | None = None


class Assignment(NamedTuple):
    role: str
    participant: str | None


class RoleMap:
    """Device id → rater role and participant: from the config, else in order of appearance."""

    def __init__(self, table: dict[str, DialEntry] | None = None, default_role: str | None = None) -> None:
        self._table = {device.upper(): entry for device, entry in (table or {}).items()}
        self._default_role = default_role
        self._given: dict[str, Assignment] = {}
        self._fixed: str | None = None

    @classmethod
    def fixed(cls, role: str) -> RoleMap:
        """One role for whichever dial is on this port (the demo's, a runner given its role)."""
        roles = cls(default_role=role)
        roles._fixed = role
        return roles

    def assign(self, device: str) -> Assignment:
        device = device.upper()
        if device in self._given:
            return self._given[device]
        if self._fixed is not None:
            self._given[device] = Assignment(self._fixed, None)
            return self._given[device]
        entry = self._table.get(device)
        taken = {given.role for given in self._given.values()}
        if entry is not None:
            assignment = Assignment(entry.role, entry.participant)
        elif self._default_role is not None and self._default_role not in taken:
            assignment = Assignment(self._default_role, None)
        else:
            number = 1 + sum(1 for given in self._given.values() if given.role.startswith("dial"))
            while f"dial{number}" in taken:
                number += 1
            assignment = Assignment(f"dial{number}", None)
        self._given[device] = assignment
        # Only a role made up here needs fixing; one from the table or from --rater was given.
        if entry is None and assignment.role != self._default_role:
            log.warning(
                'dial %s rates as %s; to fix its role add [daemon.dials."%s"] role = "..." to microdial.toml',
                device,
                assignment.role,
                device,
            )
        return assignment

    @property
    def assignments(self) -> dict[str, Assignment]:
        return dict(self._given)
