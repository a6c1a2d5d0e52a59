"""The simulator's heaters: they heat at a steady rate towards their target and cool exponentially.

A heater is ``[temperature, target]`` by name (``tool0``…, ``bed``); times are simulated seconds.
"""

from __future__ import annotations

import math

AMBIENT = 21.0
_HEAT_RATE = {"bed": 1.0}  # °C per simulated second while heating (hotends: 3.0)
_COOL_TAU = {"bed": 300.0}  # s; hotends: 60


def update(heaters: dict[str, list[float]], elapsed: float) -> None:
    """Advance every heater by ``elapsed`` simulated seconds (``math.inf``: settle at once)."""
    for name, heater in heaters.items():
        temperature, target = heater
        if target > temperature:
            heater[0] = min(target, temperature + _HEAT_RATE.get(name, 3.0) * elapsed)
        else:
            floor = max(target, AMBIENT)
            decay = math.exp(-elapsed / _COOL_TAU.get(name, 60.0)) if elapsed < math.inf else 0.0
            heater[0] = floor + (temperature - floor) * decay


def report(heaters: dict[str, list[float]]) -> str:
    """Marlin's temperature report: `` T:… /… B:… /… [T0:… T1:…] @:0 B@:0``."""
    tools = [name for name in heaters if name.startswith("tool")]
    active = heaters[tools[0]] if tools else [0.0, 0.0]
    parts = [f"T:{active[0]:.2f} /{active[1]:.2f}"]
    bed = heaters.get("bed")
    if bed:
        parts.append(f"B:{bed[0]:.2f} /{bed[1]:.2f}")
    if len(tools) > 1:
        parts += [
            f"T{index}:{heaters[name][0]:.2f} /{heaters[name][1]:.2f}" for index, name in enumerate(tools)
        ]
    return " " + " ".join(parts) + " @:0 B@:0"
