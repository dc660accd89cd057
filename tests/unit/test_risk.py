from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from itertools import product

import pytest

from bot.core.domain import ZERO, Bracket, PositionSide
from bot.margin.binance import (
    bracket_for,
    brackets_from_binance,
    brackets_from_ccxt_tiers,
    bundled_brackets,
    equity_at,
    initial_margin,
    liquidation_distance,
    liquidation_price,
    maintenance_margin,
    margin_for_liquidation_distance,
    validate_brackets,
)

D = Decimal
LONG = PositionSide.LONG
SHORT = PositionSide.SHORT
BTC = bundled_brackets("BTC/USDT:USDT")
ADA = bundled_brackets("ADAUSDT")
DEFAULT = bundled_brackets("XYZ/USDT:USDT")
TOLERANCE = D("1e-12")

# Brackets used below (bundled Binance snapshot), as (floor, cap, mmr, cum):
#   BTCUSDT 1: [0, 50k) 0.4% 0 | 2: [50k, 600k) 0.5% 50 | 3: [600k, 3M) 0.65% 950 | ...
#   ADAUSDT 1: [0, 5k) 0.5% 0 | 2: [5k, 10k) 0.6% 5 | 3: [10k, 50k) 1% 45 | ...
#   DEFAULT 1: [0, 5k) 1.5% 0 | ... | 8: [1M, 2M) 50% 333250
# Isolated one-way: LP = (WB + cum - s*Q*EP) / (Q*mmr - s*Q), s = +1 long / -1 short,
# the bracket being the one that holds Q*LP.


def close(actual: Decimal, expected: Decimal) -> bool:
    return abs(actual - expected) <= TOLERANCE * max(abs(expected), D(1))


# --- worked examples ---------------------------------------------------------------------------


def test_short_1x_btc_liquidates_in_bracket_2() -> None:
    # Short 1 BTC @ 60000, 1x: WB = 60000. Notional at LP ~ 120k -> bracket 2 (0.5%, cum 50).
    # LP = (60000 + 50 + 60000) / (1 * 0.005 + 1) = 120050 / 1.005 = 119452.7363...
    # (bracket 1 would give 120000 / 1.004 = 119521.9, notional outside [0, 50k): rejected)
    lp = liquidation_price(SHORT, D(1), D(60000), D(60000), BTC)
    assert lp == D(120050) / D("1.005")
    assert round(lp, 2) == D("119452.74")


def test_long_1x_fully_collateralised_cannot_be_liquidated() -> None:
    # Long 1 BTC @ 60000, 1x: WB = 60000. Bracket 1: LP = (60000 + 0 - 60000) / (0.004 - 1) = 0;
    # bracket 2: (60000 + 50 - 60000) / (0.005 - 1) < 0. No positive price liquidates it.
    assert liquidation_price(LONG, D(1), D(60000), D(60000), BTC) is None


def test_long_2x_btc_uses_bracket_at_liquidation_not_at_entry() -> None:
    # Long 1 BTC @ 60000, 2x: WB = 30000. Entry notional 60k sits in bracket 2, but at LP the
    # notional is ~30k -> bracket 1 (0.4%, cum 0):
    # LP = (30000 + 0 - 60000) / (0.004 - 1) = 30000 / 0.996 = 30120.4819...
    # (bracket 2 would give 29950 / 0.995 = 30100.5, notional 30.1k outside [50k, 600k))
    lp = liquidation_price(LONG, D(1), D(60000), D(30000), BTC)
    assert lp == D(30000) / D("0.996")
    assert round(lp, 2) == D("30120.48")


def test_short_2x_altcoin_moves_up_a_bracket() -> None:
    # Short 20000 ADA @ 0.45, 2x: notional 9000 (bracket 2), WB = 4500. At LP the notional is
    # ~13.4k -> bracket 3 (1%, cum 45):
    # LP = (4500 + 45 + 20000 * 0.45) / (20000 * 1.01) = 13545 / 20200 = 0.67054455...
    lp = liquidation_price(SHORT, D(20000), D("0.45"), D(4500), ADA)
    assert lp == D(13545) / D(20200)
    assert bracket_for(ADA, D(20000) * lp).cum == D(45)


def test_short_3x_large_btc_position_in_bracket_3() -> None:
    # Short 10 BTC @ 60000, 3x: notional 600k, WB = 200000. At LP the notional is ~796k ->
    # bracket 3 (0.65%, cum 950), where cum matters:
    # LP = (200000 + 950 + 10 * 60000) / (10 * 1.0065) = 800950 / 10.065 = 79577.7447...
    lp = liquidation_price(SHORT, D(10), D(60000), D(200000), BTC)
    assert lp == D(800950) / D("10.065")
    assert round(lp, 2) == D("79577.74")


def test_long_3x_default_table() -> None:
    # Long 1500 units @ 2 on an unlisted altcoin, 3x: notional 3000, WB = 1000. Bracket 1
    # (1.5%, cum 0): LP = (1000 - 3000) / (1500 * (0.015 - 1)) = 2000 / 1477.5 = 1.35363790...
    lp = liquidation_price(LONG, D(1500), D(2), D(1000), DEFAULT)
    assert lp == D(2000) / D("1477.5")


def test_10x_btc_long_and_short() -> None:
    # 0.1 BTC @ 60000, 10x: notional 6000, WB = 600, bracket 1 (0.4%, cum 0).
    # Long:  LP = (600 - 6000) / (0.1 * (0.004 - 1)) = 5400 / 0.0996 = 54216.8675...
    # Short: LP = (600 + 6000) / (0.1 * (0.004 + 1)) = 6600 / 0.1004 = 65737.0518...
    assert liquidation_price(LONG, D("0.1"), D(60000), D(600), BTC) == D(5400) / D("0.0996")
    assert liquidation_price(SHORT, D("0.1"), D(60000), D(600), BTC) == D(6600) / D("0.1004")


def test_contract_size_scales_the_quantity() -> None:
    # 10 contracts of 0.01 BTC are the 0.1 BTC short above.
    lp = liquidation_price(SHORT, D(10), D(60000), D(600), BTC, contract_size=D("0.01"))
    assert lp == D(6600) / D("0.1004")


def test_empty_position_has_no_liquidation_price() -> None:
    assert liquidation_price(SHORT, ZERO, D(60000), D(600), BTC) is None


def test_last_bracket_is_open_ended_for_liquidation() -> None:
    # Short 1.5M units @ 1 on DEFAULT, 1x: WB = 1.5M. The notional at LP (~2.22M) outgrows the
    # last cap (2M), so the last bracket (50%, cum 333250) applies:
    # LP = (1500000 + 333250 + 1500000) / (1500000 * 1.5) = 3333250 / 2250000 = 1.4814444...
    quantity = D(1500000)
    lp = liquidation_price(SHORT, quantity, D(1), quantity, DEFAULT)
    assert lp == D(3333250) / D(2250000)
    equity = equity_at(SHORT, quantity, D(1), quantity, lp)
    assert close(equity, quantity * lp * D("0.5") - D(333250))
    with pytest.raises(ValueError, match="exceeds the largest bracket cap 2000000"):
        maintenance_margin(quantity * lp, DEFAULT)


def test_invalid_position_inputs() -> None:
    with pytest.raises(ValueError, match="contracts"):
        liquidation_price(SHORT, D(-1), D(60000), D(600), BTC)
    with pytest.raises(ValueError, match="entry price"):
        liquidation_price(SHORT, D(1), ZERO, D(600), BTC)
    with pytest.raises(ValueError, match="isolated margin"):
        liquidation_price(SHORT, D(1), D(60000), D(-1), BTC)


# --- margins, distances ------------------------------------------------------------------------


def test_maintenance_margin_is_continuous_at_a_boundary() -> None:
    # 500k: 500000 * 0.005 - 50 = 2450. At 600k: bracket 2 gives 600000 * 0.005 - 50 = 2950 and
    # bracket 3 gives 600000 * 0.0065 - 950 = 2950.
    assert maintenance_margin(D(500000), BTC) == D(2450)
    assert maintenance_margin(D(600000), BTC) == D(2950)
    assert D(600000) * D("0.005") - D(50) == D(2950)


def test_initial_margin() -> None:
    assert initial_margin(D(60000), 3) == D(20000)
    with pytest.raises(ValueError, match="leverage"):
        initial_margin(D(60000), 0)


def test_liquidation_distance() -> None:
    short_lp = D(120050) / D("1.005")
    long_lp = D(30000) / D("0.996")
    assert liquidation_distance(SHORT, D(60000), short_lp) == (short_lp - 60000) / 60000
    assert liquidation_distance(LONG, D(60000), long_lp) == (60000 - long_lp) / 60000
    past = liquidation_distance(LONG, D(20000), long_lp)
    assert past is not None and past < 0  # mark already beyond the liquidation price
    assert liquidation_distance(SHORT, D(60000), None) is None


def test_margin_for_liquidation_distance_worked_example() -> None:
    # Short 1 BTC @ 60000, mark 60000, target 50%: LP = 90000, notional 90k -> bracket 2.
    # WB = 90000 * (0.005 + 1) - 50 - 60000 = 90450 - 60050 = 30400.
    wb = margin_for_liquidation_distance(SHORT, D(1), D(60000), D(60000), D("0.5"), BTC)
    assert wb == D(30400)
    assert liquidation_price(SHORT, D(1), D(60000), wb, BTC) == D(90000)


def test_margin_for_liquidation_distance_is_zero_when_no_margin_is_needed() -> None:
    # A short well in profit: entry 60000, mark 30000; even WB = 0 keeps LP above 33000.
    wb = margin_for_liquidation_distance(SHORT, D(1), D(60000), D(30000), D("0.1"), BTC)
    assert wb == ZERO
    lp = liquidation_price(SHORT, D(1), D(60000), ZERO, BTC)
    assert lp is not None and lp > D(33000)


def test_margin_for_liquidation_distance_rejects_bad_targets() -> None:
    with pytest.raises(ValueError, match="target distance"):
        margin_for_liquidation_distance(SHORT, D(1), D(60000), D(60000), ZERO, BTC)
    with pytest.raises(ValueError, match="< 1"):
        margin_for_liquidation_distance(LONG, D(1), D(60000), D(60000), D(1), BTC)


# --- properties over a deterministic grid ------------------------------------------------------

GRID = (
    (BTC, (D(20000), D(60000), D("97531.25")), (D(1000), D(30000), D(450000), D(2500000))),
    (ADA, (D("0.45"), D("1.2345")), (D(800), D(9000), D(120000), D(3000000))),
    (DEFAULT, (D("0.0123"), D(2), D("37.5")), (D(300), D(4000), D(60000), D(450000))),
)
LEVERAGES = (1, 2, 3, 5, 10, 20)


def test_equity_equals_maintenance_margin_at_the_liquidation_price() -> None:
    checked = 0
    for (brackets, entries, notionals), side, leverage in product(GRID, (LONG, SHORT), LEVERAGES):
        for entry, notional in product(entries, notionals):
            contracts = notional / entry
            margin = initial_margin(contracts * entry, leverage)
            lp = liquidation_price(side, contracts, entry, margin, brackets)
            if side is LONG and leverage == 1:
                assert lp is None
                continue
            assert lp is not None and lp > 0
            equity = equity_at(side, contracts, entry, margin, lp)
            required = maintenance_margin(contracts * lp, brackets)
            assert abs(equity - required) <= TOLERANCE * abs(required), (side, leverage, notional)
            # The root is the right one: safer prices leave equity above maintenance margin.
            step = D("1e-6") if side is SHORT else D("-1e-6")
            safer, riskier = lp * (1 - step), lp * (1 + step)
            assert equity_at(side, contracts, entry, margin, safer) > maintenance_margin(
                contracts * safer, brackets
            )
            assert equity_at(side, contracts, entry, margin, riskier) < maintenance_margin(
                contracts * riskier, brackets
            )
            checked += 1
    assert checked > 200


def test_margin_for_liquidation_distance_round_trips() -> None:
    checked = 0
    distances = (D("0.02"), D("0.1"), D("0.3"), D("0.6"))
    for (brackets, entries, notionals), side in product(GRID, (LONG, SHORT)):
        for entry, notional, move, distance in product(
            entries, notionals, (D("0.8"), D(1), D("1.25")), distances
        ):
            contracts = notional / entry
            mark = entry * move
            margin = margin_for_liquidation_distance(
                side, contracts, entry, mark, distance, brackets
            )
            lp = liquidation_price(side, contracts, entry, margin, brackets)
            assert lp is not None
            reached = liquidation_distance(side, mark, lp)
            assert reached is not None
            if margin == 0:  # no margin at all already keeps liquidation this far
                assert reached >= distance
                continue
            target = mark * (1 + distance) if side is SHORT else mark * (1 - distance)
            assert abs(lp - target) <= TOLERANCE * target
            assert abs(reached - distance) <= TOLERANCE
            checked += 1
    assert checked > 100


# --- brackets: validation, lookup, parsing -----------------------------------------------------


def table(*rows: tuple[int, int, str, str]) -> tuple[Bracket, ...]:
    """Build brackets from (floor, cap, mmr, cum) rows; leverage is irrelevant here."""
    return tuple(Bracket(D(f), D(c), 10, D(m), D(cum)) for f, c, m, cum in rows)


def test_validate_accepts_a_continuous_table() -> None:
    validate_brackets(table((0, 100, "0.01", "0"), (100, 1000, "0.02", "1")))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((), "empty"),
        (((10, 100, "0.01", "0"),), "start at notional 0"),
        (((0, 100, "0.01", "1"),), "cum 0"),
        (((0, 100, "0.01", "0"), (150, 1000, "0.02", "2.5")), "previous cap"),
        (((0, 100, "0.01", "0"), (100, 1000, "0.02", "2")), "continuity"),
        (((0, 100, "0.02", "0"), (100, 1000, "0.01", "-1")), "previous"),
        (((0, 100, "1", "0"),), r"not in \[0, 1\)"),
        (((0, 0, "0.01", "0"),), "cap 0 <= floor 0"),
        (((0, 100, "0.01", "0"), (100, 1000, "0.02", "1"), (0, 100, "0.01", "0")), "not sorted"),
    ],
)
def test_validate_rejects(rows: tuple[tuple[int, int, str, str], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_brackets(table(*rows))


def test_bracket_for_uses_half_open_ranges() -> None:
    assert bracket_for(BTC, ZERO).cum == 0
    assert bracket_for(BTC, D("49999.99")).floor == 0
    assert bracket_for(BTC, D(50000)).floor == D(50000)
    with pytest.raises(
        ValueError,
        match="position notional 1800000000 exceeds the largest bracket cap 1800000000",
    ):
        bracket_for(BTC, D(1800000000))


BINANCE_ENTRIES = [  # as /fapi/v1/leverageBracket sends them, deliberately out of order
    {
        "bracket": 2,
        "initialLeverage": 100,
        "notionalCap": 600000,
        "notionalFloor": 50000,
        "maintMarginRatio": 0.005,
        "cum": 50.0,
    },
    {
        "bracket": 1,
        "initialLeverage": 125,
        "notionalCap": 50000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.004,
        "cum": 0.0,
    },
]


def test_brackets_from_binance() -> None:
    assert brackets_from_binance(BINANCE_ENTRIES) == (
        Bracket(D(0), D(50000), 125, D("0.004"), D(0)),
        Bracket(D(50000), D(600000), 100, D("0.005"), D(50)),
    )


def test_brackets_from_binance_rejects_bad_entries() -> None:
    with pytest.raises(ValueError, match="lacks 'cum'"):
        brackets_from_binance([{k: v for k, v in BINANCE_ENTRIES[1].items() if k != "cum"}])
    with pytest.raises(ValueError, match="must be a number"):
        brackets_from_binance([{**BINANCE_ENTRIES[1], "maintMarginRatio": None}])
    with pytest.raises(ValueError, match="continuity"):
        brackets_from_binance([BINANCE_ENTRIES[1], {**BINANCE_ENTRIES[0], "cum": 49}])


def ccxt_tier(
    floor: float, cap: float, mmr: float, leverage: float, info: dict[str, str]
) -> dict[str, object]:
    return {
        "tier": 1.0,
        "currency": "USDT",
        "minNotional": floor,
        "maxNotional": cap,
        "maintenanceMarginRate": mmr,
        "maxLeverage": leverage,
        "info": info,
    }


def test_brackets_from_ccxt_tiers_with_binance_info() -> None:
    tiers = [
        ccxt_tier(50000.0, 600000.0, 0.005, 100.0, {"bracket": "2", "cum": "50.0"}),
        ccxt_tier(0.0, 50000.0, 0.004, 125.0, {"bracket": "1", "cum": "0.0"}),
    ]
    assert brackets_from_ccxt_tiers(tiers) == brackets_from_binance(BINANCE_ENTRIES)


def test_brackets_from_ccxt_tiers_derives_missing_cum() -> None:
    # Without cum: cum_2 = 0 + 50000 * (0.005 - 0.004) = 50, cum_3 = 50 + 600000 * 0.0015 = 950.
    tiers = [
        ccxt_tier(0.0, 50000.0, 0.004, 125.0, {}),
        ccxt_tier(50000.0, 600000.0, 0.005, 100.0, {}),
        ccxt_tier(600000.0, 3000000.0, 0.0065, 75.5, {}),
    ]
    brackets = brackets_from_ccxt_tiers(tiers)
    assert [b.cum for b in brackets] == [D(0), D(50), D(950)]
    assert brackets == BTC[:3]  # 75.5x rounds down to the bundled 75x


def test_bundled_table_validates_for_every_symbol() -> None:
    path = resources.files("bot") / "data" / "binance_brackets.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "2024" in document["_source"]
    symbols = {entry["symbol"] for entry in document["entries"]}
    assert {"BTCUSDT", "ETHUSDT", "DEFAULT"} <= symbols
    for entry in document["entries"]:
        brackets = brackets_from_binance(entry["brackets"])
        assert bundled_brackets(entry["symbol"]) == brackets
        assert [b["bracket"] for b in entry["brackets"]] == list(range(1, len(brackets) + 1))


def test_bundled_brackets_symbol_lookup() -> None:
    assert bundled_brackets("BTCUSDT") == BTC == bundled_brackets("btcusdt")
    assert bundled_brackets("ETH/USDT:USDT") != BTC
    assert BTC[0] == Bracket(D(0), D(50000), 125, D("0.004"), D(0))
    assert bundled_brackets("DEFAULT") == DEFAULT
    assert bundled_brackets("BTC/USDT:USDT-241227") == DEFAULT  # quarterlies are not bundled
