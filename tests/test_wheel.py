"""A regular install (a wheel: what `pip install .` and pipx build) carries the stylesheet and the icon."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import lenet_viz
from lenet_viz.app.main_window import resource
style, icon = resource("style.qss"), resource("lenet-viz.svg")
print(lenet_viz.__file__)
print(style)
print(icon)
print(len(style.read_text()) if style else 0)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0 and "No module named" in done.stderr:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("lenet_viz-*.whl")
    return path


def test_the_wheel_holds_the_resources_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "lenet_viz/resources/style.qss" in names and "lenet_viz/resources/lenet-viz.svg" in names
    assert not any(n.endswith("screenshot.png") for n in names)  # the README's picture stays out


def test_the_installed_package_finds_its_stylesheet_and_icon(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # Safe-path mode, from a folder that is not the source tree: only the installed copy can be found first.
    done = subprocess.run([sys.executable, "-P", "-c", CHECK, str(target)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    package, style, icon, size = done.stdout.split("\n")[:4]
    assert Path(package).is_relative_to(target)
    assert Path(style) == target / "lenet_viz" / "resources" / "style.qss"
    assert Path(icon) == target / "lenet_viz" / "resources" / "lenet-viz.svg"
    assert int(size) == len((ROOT / "resources" / "style.qss").read_text())
