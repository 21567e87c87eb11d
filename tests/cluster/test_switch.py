"""One switch: without ``AIAAS_RAY_ADDRESS`` the server never imports Ray (though installed);
with it but without Ray, it refuses to start and says what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BUILD = """
import sys
{prelude}
from aiaas.api.app import create_app
from aiaas.config import Settings
from aiaas.errors import NotStarting
from aiaas.services import Services
try:
    create_app(Settings(data_dir=sys.argv[1], builtin_models=False, embedded_worker=False))
except NotStarting as exc:
    print("not starting:", exc.message)
print("ray imported" if "ray" in sys.modules else "ray not imported")
"""


def build(tmp_path: Path, prelude: str = "", **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", BUILD.format(prelude=prelude),
                          str(tmp_path / "data")], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def test_a_server_without_the_setting_never_imports_ray(tmp_path: Path) -> None:
    assert build(tmp_path).strip().splitlines()[-1] == "ray not imported"


def test_the_setting_without_ray_installed_refuses_to_start(tmp_path: Path) -> None:
    out = build(tmp_path, prelude="sys.modules['ray'] = None", AIAAS_RAY_ADDRESS="auto")
    assert "not starting: AIAAS_RAY_ADDRESS is set but Ray is not installed: pip install " \
        "'aiaas[ray]'" in out
