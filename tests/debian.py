"""Debian packages the tests need and install themselves when missing.

Redis (`redis-server`) and Chromium (`chromium`) are not on a fresh machine and nothing
is started when a session or CI begins: the test that needs one calls
`ensure_command`, which installs the Debian package with apt-get (as root, or through
`sudo -n`) the first time and is a no-op afterwards. apt waits for dpkg's lock, so two
test runs installing at once queue rather than fail. Packages' own services are not
started (RUNLEVEL=1; these machines have no init system either): the tests start
throwaway servers of their own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
)


def _which(command: str) -> str | None:
    return shutil.which(command, path=_SEARCH_PATH)


def _privileged() -> list[str]:
    if os.geteuid() == 0:
        return []
    if _which("sudo"):
        return ["sudo", "-n", "--preserve-env=DEBIAN_FRONTEND,RUNLEVEL"]
    raise RuntimeError("installing Debian packages needs root or sudo")


def ensure_command(command: str, package: str) -> str:
    """The path of `command`, installing Debian's `package` first if it is missing."""
    found = _which(command)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    apt = [*_privileged(), "apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "-y"]
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "apt.log"
        with log.open("w") as out:
            for args in (["update"], ["install", "--no-install-recommends", package]):
                done = subprocess.run([*apt, *args], env=env, stdout=out, stderr=out)
                if done.returncode != 0:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"apt-get {' '.join(args)} failed:\n{tail}")
    found = _which(command)
    if not found:
        raise RuntimeError(f"installed {package} but {command} is still not found")
    return found
