from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from bot.core.domain import Bracket, PositionSide
from bot.margin.binance import bundled_brackets, equity_at, initial_margin, liquidation_price
from bot.margin.venues import (
    LiquidationMethod,
    bybit_liquidation_price,
    bybit_maintenance_margin,
    bybit_tier,
    liquidation_price_for,
    maintenance_margin_for,
)

D = Decimal
LONG = PositionSide.LONG
SHORT = PositionSide.SHORT
BYBIT = LiquidationMethod.BYBIT
BINANCE = LiquidationMethod.BINANCE
TOLERANCE = D("1e-12")

# Bybit BTCUSDT risk limits (v5 /market/risk-limit style): position value at entry in USDT,
# tier (floor, cap], cap = riskLimitValue, cum = mmDeduction.
#   1: (0, 2M]   MMR 0.5%  deduction 0       ("2,000,000 USDT or below ... 0.5%", Bybit help)
#   2: (2M, 10M] MMR 1%    deduction 10,000  (= 2M x (1% - 0.5%), continuous at 2M)
BYBIT_BTC = (
    Bracket(floor=D(0), cap=D(2_000_000), max_leverage=100, mmr=D("0.005"), cum=D(0)),
    Bracket(floor=D(2_000_000), cap=D(10_000_000), max_leverage=50, mmr=D("0.01"), cum=D(10_000)),
)
BINANCE_BTC = bundled_brackets("BTC/USDT:USDT")


def close(actual: Decimal, expected: Decimal) -> bool:
    return abs(actual - expected) <= TOLERANCE * max(abs(expected), D(1))


# --- Bybit worked examples ---------------------------------------------------------------------
# Published: LP(long)  = EP - (IM - MM)/size - extra/size,
#            LP(short) = EP + (IM - MM)/size + extra/size,
# with MM = size x EP x MMR - deduction, i.e. LP = EP - s*(WB - MM)/Q, WB = IM + extra.


def test_bybit_published_examples() -> None:
    # Bybit's own example: long 1 BTC @ 20000, 50x, MMR 0.5%: IM = 400, MM = 100,
    # LP = 20000 - (400 - 100) = 19700.
    assert bybit_liquidation_price(LONG, D(1), D(20000), D(400), BYBIT_BTC) == D(19700)
    # Short with 3000 USDT extra margin: LP = 20000 + (400 - 100) + 3000 = 23300.
    assert bybit_liquidation_price(SHORT, D(1), D(20000), D(3400), BYBIT_BTC) == D(23300)
    # 200 USDT funding taken from the long's margin: LP = 20000 - (200 - 100) = 19900.
    assert bybit_liquidation_price(LONG, D(1), D(20000), D(200), BYBIT_BTC) == D(19900)


@pytest.mark.parametrize(
    ("side", "leverage", "expected"),
    [
        # 1 BTC @ 60000: PV = 60000 (tier 1), MM = 60000 x 0.5% = 300, WB = 60000 / leverage.
        (LONG, 1, D(300)),  # 60000 - (60000 - 300) = 300: MM is fixed at entry, so LP > 0
        (SHORT, 1, D(119700)),  # 60000 + 59700
        (LONG, 2, D(30300)),  # 60000 - (30000 - 300)
        (SHORT, 2, D(89700)),  # 60000 + 29700
        (LONG, 3, D(40300)),  # 60000 - (20000 - 300)
        (SHORT, 3, D(79700)),  # 60000 + 19700
        (LONG, 10, D(54300)),  # 60000 - (6000 - 300)
        (SHORT, 10, D(65700)),  # 60000 + 5700
    ],
)
def test_bybit_one_btc(side: PositionSide, leverage: int, expected: Decimal) -> None:
    margin = initial_margin(D(60000), leverage)
    assert bybit_liquidation_price(side, D(1), D(60000), margin, BYBIT_BTC) == expected
    assert liquidation_price_for(BYBIT, side, D(1), D(60000), margin, BYBIT_BTC) == expected


def test_bybit_tier_2_uses_the_deduction() -> None:
    # Long 50 BTC @ 60000: PV = 3,000,000 -> tier 2: MM = 3,000,000 x 1% - 10,000 = 20,000.
    # 10x: WB = 300,000: LP = 60000 - (300,000 - 20,000)/50 = 60000 - 5600 = 54400.
    # (Without the deduction MM would be 30,000 and LP 54600.)
    assert bybit_maintenance_margin(D(50), D(60000), BYBIT_BTC) == D(20000)
    assert bybit_liquidation_price(LONG, D(50), D(60000), D(300000), BYBIT_BTC) == D(54400)
    # Short 10x: 60000 + 5600 = 65600.
    assert bybit_liquidation_price(SHORT, D(50), D(60000), D(300000), BYBIT_BTC) == D(65600)
    # 3x: WB = 1,000,000: long 60000 - 980,000/50 = 40400, short 60000 + 19600 = 79600.
    assert bybit_liquidation_price(LONG, D(50), D(60000), D(1000000), BYBIT_BTC) == D(40400)
    assert bybit_liquidation_price(SHORT, D(50), D(60000), D(1000000), BYBIT_BTC) == D(79600)


def test_bybit_selects_the_tier_at_entry_not_at_liquidation() -> None:
    # Short 30 BTC @ 60000, 1x: PV at entry 1.8M -> tier 1, MM = 9000;
    # LP = 60000 + (1,800,000 - 9000)/30 = 119700. The notional at LP (~3.59M) is tier 2's,
    # which Binance's rule would use; Bybit keeps the entry tier.
    lp = bybit_liquidation_price(SHORT, D(30), D(60000), D(1800000), BYBIT_BTC)
    assert lp == D(119700)
    assert bybit_tier(BYBIT_BTC, D(30) * lp).cum == D(10000)
    assert maintenance_margin_for(BYBIT, D(30), D(60000), lp, BYBIT_BTC) == D(9000)


def test_bybit_tier_cap_is_inclusive_and_margin_continuous() -> None:
    assert bybit_tier(BYBIT_BTC, D(0)) is BYBIT_BTC[0]
    assert bybit_tier(BYBIT_BTC, D(2_000_000)) is BYBIT_BTC[0]
    assert bybit_tier(BYBIT_BTC, D("2000000.01")) is BYBIT_BTC[1]
    # At the cap both tiers give 10,000: 2M x 0.5% - 0 = 2M x 1% - 10,000.
    assert bybit_maintenance_margin(D(100), D(20000), BYBIT_BTC) == D(10000)
    with pytest.raises(ValueError, match="largest risk limit"):
        bybit_tier(BYBIT_BTC, D("10000000.01"))


# --- Binance through the dispatcher ------------------------------------------------------------


def test_binance_dispatch_equals_the_existing_function() -> None:
    checked = 0
    for side, leverage, entry, notional in product(
        (LONG, SHORT), (1, 2, 3, 10), (D(20000), D(60000)), (D(1000), D(450000), D(2500000))
    ):
        contracts = notional / entry
        margin = initial_margin(notional, leverage)
        expected = liquidation_price(side, contracts, entry, margin, BINANCE_BTC)
        assert liquidation_price_for(BINANCE, side, contracts, entry, margin, BINANCE_BTC) == (
            expected
        )
        assert liquidation_price_for("binance", side, contracts, entry, margin, BINANCE_BTC) == (
            expected
        )
        assert (
            liquidation_price_for(BINANCE, side, contracts, entry, margin, BINANCE_BTC, D(1))
            == expected
        )
        checked += 1
    assert checked == 48


# --- property: equity == requirement at the computed price, on a deterministic grid ------------

LEVERAGES = (1, 2, 3, 5, 10, 20)
MARGIN_FACTORS = (D(1), D("1.37"))  # initial margin, and initial margin plus extra margin
ENTRIES = (D(20000), D(60000), D("97531.25"))


def _grid(method: LiquidationMethod) -> list[tuple[Decimal, Decimal]]:
    """(contracts, contract_size) pairs for ``method``."""
    if method is BYBIT:
        # base quantities chosen so entry value stays within the 10M cap at every entry
        return [(q, D(1)) for q in (D("0.05"), D(1), D(15), D(60), D(100))]
    return [(q, D(1)) for q in (D("0.05"), D(1), D(15), D(60))] + [(D(100), D("0.01"))]


TABLES = {BINANCE: BINANCE_BTC, BYBIT: BYBIT_BTC}


@pytest.mark.parametrize("method", [BINANCE, BYBIT])
def test_equity_equals_requirement_at_the_liquidation_price(method: LiquidationMethod) -> None:
    tiers = TABLES[method]
    checked = 0
    for (contracts, size), side, leverage, factor, entry in product(
        _grid(method), (LONG, SHORT), LEVERAGES, MARGIN_FACTORS, ENTRIES
    ):
        margin = initial_margin(contracts * size * entry, leverage) * factor
        lp = liquidation_price_for(method, side, contracts, entry, margin, tiers, size)
        if lp is None:
            assert side is LONG and margin >= contracts * size * entry
            continue
        assert lp > 0
        equity = equity_at(side, contracts, entry, margin, lp, size)
        required = maintenance_margin_for(method, contracts, entry, lp, tiers, size)
        assert abs(equity - required) <= TOLERANCE * abs(required), (side, leverage, contracts)
        # The root is the right one: safer prices leave equity above the requirement.
        step = D("1e-6") if side is SHORT else D("-1e-6")
        safer, riskier = lp * (1 - step), lp * (1 + step)
        assert equity_at(side, contracts, entry, margin, safer, size) > maintenance_margin_for(
            method, contracts, entry, safer, tiers, size
        )
        assert equity_at(side, contracts, entry, margin, riskier, size) < maintenance_margin_for(
            method, contracts, entry, riskier, tiers, size
        )
        checked += 1
    assert checked > 250


# --- edge cases --------------------------------------------------------------------------------


def test_empty_position() -> None:
    for method in LiquidationMethod:
        tiers = TABLES[method]
        assert liquidation_price_for(method, LONG, D(0), D(60000), D(0), tiers) is None
        assert maintenance_margin_for(method, D(0), D(60000), D(60000), tiers) == 0


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="ftx"):
        liquidation_price_for("ftx", LONG, D(1), D(60000), D(6000), BYBIT_BTC)
    with pytest.raises(ValueError, match="contracts"):
        bybit_liquidation_price(LONG, D(-1), D(60000), D(6000), BYBIT_BTC)
    with pytest.raises(ValueError, match="price"):
        bybit_liquidation_price(LONG, D(1), D(0), D(6000), BYBIT_BTC)
    with pytest.raises(ValueError, match="isolated margin"):
        bybit_liquidation_price(SHORT, D(1), D(60000), D(-1), BYBIT_BTC)
    with pytest.raises(ValueError, match="contract size"):
        bybit_maintenance_margin(D(1), D(60000), BYBIT_BTC, D(0))
    with pytest.raises(ValueError, match="empty"):
        bybit_tier((), D(1))
    with pytest.raises(ValueError, match="empty"):
        maintenance_margin_for(BINANCE, D(1), D(60000), D(60000), ())
    with pytest.raises(ValueError, match="mark price"):
        maintenance_margin_for(BYBIT, D(1), D(60000), D(0), BYBIT_BTC)
    with pytest.raises(ValueError, match="not sorted"):
        bybit_tier((BYBIT_BTC[1], BYBIT_BTC[0]), D(1))
