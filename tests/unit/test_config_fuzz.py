"""Fuzz the config loader: any mangled config is either valid or refused with a ConfigError
that names a field — never another exception, never a half-validated config."""

from __future__ import annotations

import copy
import math
import random
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ConfigError
from bot.settings.config import Config, parse_config

REPO = Path(__file__).resolve().parents[2]
NONSENSE: list[Any] = [
    -1,
    0,
    10**30,
    -(10**30),
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "abc",
    "-0.5",
    "1e999",
    True,
    [],
    [1, "x"],
    {},
    {"nested": {"deep": 1}},
    "4x",
    "99999999999999999999d",
    "NaN",
]


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += paths(value, (*prefix, index))
    return found


def mutate(tree: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    tree = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths(tree))
        parent: Any = tree
        for step in path[:-1]:
            parent = parent[step]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.25 and isinstance(parent, dict):
            parent[f"typo_{path[-1]}"] = rng.choice(NONSENSE)
        else:
            parent[path[-1]] = rng.choice(NONSENSE)
    return tree


@pytest.mark.parametrize(
    "name", ["paper.toml", "regime.toml", "emulator.toml", "binance-demo.toml"]
)
def test_mangled_configs_are_valid_or_refused_naming_the_field(name: str) -> None:
    base = tomllib.loads((REPO / "config" / name).read_text())
    rng = random.Random(f"fuzz-{name}")
    refused = 0
    for _ in range(300):
        data = mutate(base, rng)
        try:
            config = parse_config(data, name)
        except ConfigError as error:
            refused += 1
            lines = str(error).splitlines()
            assert lines[0] == f"invalid configuration in {name}:", error
            assert all(line.startswith("  - ") and ": " in line for line in lines[1:]), error
            continue
        assert isinstance(config, Config)
        assert config.risk.leverage <= config.risk.max_leverage <= 3
        assert all(amount >= 0 and amount.is_finite() for amount in config.paper.holdings.values())
    assert refused > 200  # most nonsense is refused; the rest only touched free-form values
