"""Packaging: the wheel's explicit package list names every package and data folder of ``qa``.

``[tool.setuptools] packages`` is a list written by hand (``qa_eval`` maps eval/ to another name,
which rules out ``packages.find``); a folder missing from it would silently be left out of a
wheel while an editable install still works.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_and_data_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    source = ROOT / "qa"
    folders = {p for p in source.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    wanted = {"qa"} | {"qa." + ".".join(p.relative_to(source).parts) for p in folders
                       if (p / "__init__.py").exists() or p.is_relative_to(source / "data")}
    assert wanted - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"] == {"qa_eval": "eval"} and "qa_eval" in listed
