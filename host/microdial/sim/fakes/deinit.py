"""What every CircuitPython peripheral object does after deinit(): any use raises ValueError.

Shared by the fakes of CircuitPython's modules (no microcontroller exists here)."""

from __future__ import annotations


class Deinitable:
    _deinited = False

    def deinit(self) -> None:
        self._deinited = True

    @property
    def deinited(self) -> bool:
        return self._deinited

    def _check(self) -> None:
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used. Create a new object.")
