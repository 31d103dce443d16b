"""The release gate: the test sets' metrics against the floors recorded in evals/floors.json.

Floors (higher is better) only move up; ceilings (lower is better) only move down. `check` returns one line per
failure, empty when the gate passes; `check_monotonic` compares a new floors file against an older one.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FLOORS_FILE = Path(__file__).resolve().parent / "floors.json"


def load_floors(path: Path = FLOORS_FILE, set_name: str | None = None) -> dict[str, Any]:
    """The floors and ceilings of one gated set (the file's main set, "test", by default)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if set_name is not None and set_name != data.get("set", "test"):
        data = data.get("sets", {})[set_name]
    data.setdefault("floors", {})
    data.setdefault("ceilings", {})
    return data


def gated_sets(path: Path = FLOORS_FILE) -> list[str]:
    """The question sets the gate runs: the main one, then those under "sets"."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [data.get("set", "test"), *data.get("sets", {})]


def check(summary: Mapping[str, Any], floors: Mapping[str, Any] | None = None) -> list[str]:
    """Failures of one run's summary against the floors and ceilings; [] means the gate passes."""
    floors = load_floors() if floors is None else floors
    failures = []
    for name, floor in floors.get("floors", {}).items():
        value = summary.get(name)
        if value is None:
            failures.append(f"{name}: not measured (floor {floor})")
        elif value < floor:
            failures.append(f"{name}: {value:.4f} is below its floor {floor}")
    for name, ceiling in floors.get("ceilings", {}).items():
        value = summary.get(name)
        if value is None:
            failures.append(f"{name}: not measured (ceiling {ceiling})")
        elif value > ceiling:
            failures.append(f"{name}: {value:.4f} is above its ceiling {ceiling}")
    return failures


def check_monotonic(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """Floors that moved down or ceilings that moved up (or were dropped) since old."""
    problems = []
    for name, floor in old.get("floors", {}).items():
        if name not in new.get("floors", {}):
            problems.append(f"floor {name} was removed")
        elif new["floors"][name] < floor:
            problems.append(f"floor {name} moved down from {floor} to {new['floors'][name]}")
    for name, ceiling in old.get("ceilings", {}).items():
        if name not in new.get("ceilings", {}):
            problems.append(f"ceiling {name} was removed")
        elif new["ceilings"][name] > ceiling:
            problems.append(f"ceiling {name} moved up from {ceiling} to {new['ceilings'][name]}")
    return problems


def raised_floors(summary: Mapping[str, Any], floors: Mapping[str, Any], margin: float = 0.02) -> dict[str, Any]:
    """Floors moved up to (measured - margin) where that is higher, ceilings down likewise; never the other way."""
    out = json.loads(json.dumps(floors))
    for name, floor in floors.get("floors", {}).items():
        value = summary.get(name)
        if value is not None:
            out["floors"][name] = max(floor, round(value - margin, 3))
    for name, ceiling in floors.get("ceilings", {}).items():
        value = summary.get(name)
        if value is not None:
            out["ceilings"][name] = min(ceiling, round(value + margin, 3))
    return out
