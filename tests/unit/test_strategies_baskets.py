from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest

from strategies.base import HedgeDecision, HoldingView
from strategies.baskets import (
    BasketRules,
    LegWeight,
    Universe,
    choose_basket,
    history_bars,
    map_to_legs,
    possible_leg_assets,
)

RULES = BasketRules(auto_proxy=True, lookback_bars=400, candidates=("ETH", "SOL"))


def closes_from(returns: list[float]) -> list[Decimal]:
    closes = [100.0]
    for r in returns:
        closes.append(closes[-1] * math.exp(r))
    return [Decimal(f"{c:.10f}") for c in closes]


def market(seed: int = 1, bars: int = 400) -> dict[str, list[Decimal]]:
    """BTC, ETH, SOL factors; MEME = 1.6 × SOL + noise (so it tracks SOL, beta 1.6 to it)."""
    rng = random.Random(seed)
    btc = [rng.gauss(0, 0.02) for _ in range(bars)]
    eth = [0.8 * b + rng.gauss(0, 0.015) for b in btc]
    sol = [0.5 * b + rng.gauss(0, 0.03) for b in btc]
    meme = [1.6 * s + rng.gauss(0, 0.01) for s in sol]
    return {
        a: closes_from(r) for a, r in {"BTC": btc, "ETH": eth, "SOL": sol, "MEME": meme}.items()
    }


def decision(**ratios: str) -> HedgeDecision:
    return HedgeDecision(ratios={a: Decimal(r) for a, r in ratios.items()}, reason="test")


def test_own_perp_then_configured_proxy() -> None:
    holdings = [
        HoldingView("BTC", Decimal(1), Decimal(50000)),
        HoldingView("NEO", Decimal(100), Decimal(10)),
    ]
    proxies = {"NEO": [LegWeight("BTC", Decimal("0.5")), LegWeight("ETH", Decimal("0.5"))]}
    mapping = map_to_legs(decision(BTC="0.4", NEO="0.4"), holdings, {"BTC", "ETH"}, proxies)
    targets = {t.symbol: t for t in mapping.targets}
    assert targets["BTC/USDT:USDT"].notional == Decimal(20200)
    assert targets["ETH/USDT:USDT"].notional == Decimal(200)
    assert (
        "40% × 50% of NEO (configured proxy 50% BTC + 50% ETH)" in targets["ETH/USDT:USDT"].reason
    )
    # sources name the spot value each holding insures through the leg
    assert dict(targets["BTC/USDT:USDT"].sources) == {"BTC": Decimal(50000), "NEO": Decimal(500)}
    assert mapping.unhedged == ()


def test_unlisted_holding_without_proxy_is_unhedged_with_the_reason() -> None:
    holdings = [HoldingView("NEO", Decimal(100), Decimal(10))]
    mapping = map_to_legs(decision(NEO="0.4"), holdings, {"BTC"}, {})
    assert mapping.targets == ()
    assert mapping.unhedged == ("NEO: no perp listed and no proxy configured",)


def test_auto_proxy_pairs_btc_with_the_most_correlated_candidate() -> None:
    universe = Universe({"BTC", "ETH", "SOL"}, rules=RULES, history=market())
    basket = choose_basket("MEME", universe)
    assert basket.legs == (LegWeight("BTC", Decimal("0.5")), LegWeight("SOL", Decimal("0.5")))
    assert "no perp listed: auto proxy 50% BTC + 50% SOL (most correlated" in basket.words
    assert possible_leg_assets("MEME", universe) == ("BTC", "ETH", "SOL")
    assert history_bars(["MEME"], universe) == 401
    assert history_bars(["BTC"], universe) == 0  # own perp, plain size: no estimate needed


def test_illiquid_own_perp_goes_to_the_proxy_basket() -> None:
    rules = BasketRules(
        min_volume=Decimal(10_000_000),
        auto_proxy=True,
        lookback_bars=400,
        candidates=("ETH", "SOL"),
    )
    volumes = {"MEME": Decimal(2_000_000), "BTC": Decimal(10**10), "SOL": Decimal(10**9)}
    universe = Universe(
        {"BTC", "ETH", "SOL", "MEME"}, rules=rules, history=market(), volumes=volumes
    )
    basket = choose_basket("MEME", universe)
    assert [leg.asset for leg in basket.legs] == ["BTC", "SOL"]
    assert "its perp traded 2,000,000 in 24h, under the 10,000,000 threshold" in basket.words
    liquid = Universe({"BTC", "MEME"}, rules=rules, volumes={"MEME": Decimal(10**8)})
    assert choose_basket("MEME", liquid).legs == (LegWeight("MEME", Decimal(1)),)


def test_without_history_the_auto_proxy_is_btc_alone() -> None:
    universe = Universe({"BTC", "ETH", "SOL"}, rules=RULES)
    basket = choose_basket("MEME", universe)
    assert basket.legs == (LegWeight("BTC", Decimal(1)),)
    assert "BTC only (no candidate with 200 bars of history" in basket.words


def test_beta_weighting_scales_the_proxy_notional() -> None:
    holdings = [HoldingView("MEME", Decimal(1000), Decimal(10))]
    proxies = {"MEME": [LegWeight("SOL", Decimal(1))]}
    rules = BasketRules(beta=True, lookback_bars=400)
    mapping = map_to_legs(
        decision(MEME="0.5"), holdings, {"SOL"}, proxies, rules=rules, history=market()
    )
    (target,) = mapping.targets
    beta = target.notional / Decimal(5000)
    assert beta == pytest.approx(Decimal("1.6"), abs=Decimal("0.05"))
    assert f"× β{beta:.2f} of MEME" in target.reason
    clamped = BasketRules(beta=True, lookback_bars=400, beta_max=Decimal("1.2"))
    mapping = map_to_legs(
        decision(MEME="0.5"), holdings, {"SOL"}, proxies, rules=clamped, history=market()
    )
    assert mapping.targets[0].notional == Decimal(6000)
    assert "clamped to 0.5–1.2" in mapping.targets[0].reason


def test_too_little_history_falls_back_to_beta_one_and_says_so() -> None:
    holdings = [HoldingView("MEME", Decimal(1000), Decimal(10))]
    proxies = {"MEME": [LegWeight("SOL", Decimal(1))]}
    short = {a: c[-30:] for a, c in market().items()}
    rules = BasketRules(beta=True, lookback_bars=400)
    mapping = map_to_legs(
        decision(MEME="0.5"), holdings, {"SOL"}, proxies, rules=rules, history=short
    )
    assert mapping.targets[0].notional == Decimal(5000)
    assert "β 1 (fallback: 29 of 200 bars needed)" in mapping.targets[0].reason


def test_min_variance_sizes_each_leg_of_a_basket() -> None:
    rng = random.Random(9)
    btc = [rng.gauss(0, 0.02) for _ in range(600)]
    eth = [rng.gauss(0, 0.03) for _ in range(600)]
    neo = [0.9 * b + 0.3 * e + rng.gauss(0, 0.005) for b, e in zip(btc, eth, strict=True)]
    history = {"BTC": closes_from(btc), "ETH": closes_from(eth), "NEO": closes_from(neo)}
    proxies = {"NEO": [LegWeight("BTC", Decimal("0.5")), LegWeight("ETH", Decimal("0.5"))]}
    rules = BasketRules(min_variance=True, lookback_bars=600)
    holdings = [HoldingView("NEO", Decimal(100), Decimal(100))]
    mapping = map_to_legs(
        decision(NEO="1"), holdings, {"BTC", "ETH"}, proxies, rules=rules, history=history
    )
    notional = {t.symbol: t.notional for t in mapping.targets}
    assert notional["BTC/USDT:USDT"] / 10000 == pytest.approx(Decimal("0.9"), abs=Decimal("0.03"))
    assert notional["ETH/USDT:USDT"] / 10000 == pytest.approx(Decimal("0.3"), abs=Decimal("0.03"))
    assert "minimum-variance sizes over 30d" in mapping.targets[0].reason
    insured = sum((v for t in mapping.targets for _, v in t.sources), Decimal(0))
    assert insured == Decimal(10000)


def test_auto_proxy_keeps_last_cycles_pick_unless_clearly_beaten() -> None:
    rng = random.Random(11)
    legs = {a: [rng.gauss(0, 0.02) for _ in range(400)] for a in ("BTC", "ETH", "SOL", "DOGE")}
    meme = [e + s + rng.gauss(0, 0.01) for e, s in zip(legs["ETH"], legs["SOL"], strict=True)]
    history = {a: closes_from(r) for a, r in {**legs, "MEME": meme}.items()}
    rules = BasketRules(auto_proxy=True, lookback_bars=400, candidates=("ETH", "SOL", "DOGE"))
    perps = {"BTC", "ETH", "SOL", "DOGE"}
    best = choose_basket("MEME", Universe(perps, rules=rules, history=history)).pick
    other = "SOL" if best == "ETH" else "ETH"
    kept = choose_basket(
        "MEME", Universe(perps, rules=rules, history=history, picks={"MEME": other})
    )
    assert kept.pick == other and "kept" in kept.words
    beaten = Universe(perps, rules=rules, history=history, picks={"MEME": "DOGE"})
    assert choose_basket("MEME", beaten).pick == best
    holdings = [HoldingView("MEME", Decimal(1), Decimal(1))]
    mapping = map_to_legs(decision(MEME="1"), holdings, perps, {}, rules=rules, history=history)
    assert mapping.picks == {"MEME": best}
