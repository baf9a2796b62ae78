"""The API as a subprocess, for the client tests that need a real one."""

from tests.api.conftest import launch

__all__ = ["launch"]
