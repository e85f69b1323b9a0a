"""The host's commands import on a Python without Unix-only modules (fcntl, pwd, grp, termios), as
Windows' has none: each is imported only on the path that needs it. Run in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import builtins
real = builtins.__import__
def windows_like(name, globals=None, *args, **kwargs):
    # Only our own modules are held to it (pyserial picks its POSIX backend here, as it picks its
    # Windows one there), and microdial.durable, which chooses per platform, is the one exception.
    module = (globals or {}).get("__name__", "")
    if name in ("fcntl", "pwd", "grp", "termios") and module.startswith("microdial") and module != "microdial.durable":
        raise ImportError(f"No module named {name!r}")
    return real(name, globals, *args, **kwargs)
builtins.__import__ = windows_like
import microdial.daemon, microdial.recorder, microdial.apps.daemon, microdial.apps.doctor
import microdial.apps.record, microdial.apps.view, microdial.apps.demo
from microdial.mqtt.spool import Spool
print("ok")
"""


def test_the_daemon_recorder_doctor_and_demo_import_without_unix_only_modules() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
