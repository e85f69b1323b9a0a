"""Mosquitto started from a configuration file, as in tests/broker."""

from tests.broker.conftest import port, start_broker

__all__ = ["port", "start_broker"]
