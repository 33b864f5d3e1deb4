"""Test-wide environment (tests and the package's docstring examples): Ray without token auth,
in a private temp folder of its own."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# A short private folder keeps Ray's unix socket paths under 108 characters and keeps the tests'
# Ray sessions away from any other on the machine; it goes when the test session ends.
if "RAY_TMPDIR" not in os.environ:
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rthp-", dir="/tmp")
    atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], ignore_errors=True)
# A plain local ray.init() would otherwise turn token authentication on and write a token file.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
