"""What-if on the hedge: shocks applied at once to today's holdings and legs (pure, Decimal).

A scenario moves every asset's spot price and its perp's mark by one fraction each, in a jump:
the margin guard gets no cycle in between. The arithmetic is the bot's own margin code, nothing
re-derived: liquidation prices and the margin that puts one at a given price from
`bot.margin.venues` (Binance's brackets or Bybit's tiers, by the venue's method), equity from
`bot.margin.binance.equity_at`, and what the guard would do from
`bot.margin.plan.plan_margin_actions`.

Per leg, with ``M`` the mark now and ``M'`` the shocked mark:

- liquidation price: computed from the leg's contracts, entry and isolated margin (it does not
  move with the mark); the leg is liquidated when ``M'`` reaches it (a short: ``M' >= LP``, as
  the simulated exchange checks);
- hedge P&L: ``equity_at(M') − equity_at(M)``; a liquidated leg loses its whole equity at ``M``
  (what is left at the liquidation price goes to the insurance fund);
- guard: the top-ups and cuts `plan_margin_actions` orders for the surviving legs at ``M'`` with
  today's free collateral;
- margin to ride the move: the smallest isolated margin, in cents, with which the leg *at full
  size* (no cut) is not liquidated at ``M'``; what the leg lacks of it must be in before the move.

Per asset the spot P&L is ``amount × price × shock``; a leg's hedge P&L is booked on its own asset
(a proxy leg insures other holdings too). The share of the loss removed is ``hedge P&L / −spot
P&L`` where the spot loses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from bot.core.domain import ZERO, Bracket, Market, Position, PositionSide
from bot.margin.binance import equity_at, liquidation_distance
from bot.margin.plan import CENT, GuardKind, MarginAction, plan_margin_actions
from bot.margin.venues import LiquidationMethod, liquidation_price_for, margin_for_distance_for
from bot.market.series import BarSeries
from strategies.base import HoldingView


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of price moves: ``shocks`` per asset, ``others`` for every other asset."""

    name: str
    what: str
    shocks: Mapping[str, Decimal]
    others: Decimal = ZERO
    notes: tuple[str, ...] = ()

    def shock(self, asset: str) -> Decimal:
        """Return the fraction ``asset``'s price moves by (−0.3 = −30%)."""
        return self.shocks.get(asset, self.others)


CRASH = Scenario(
    "crash", "BTC −30%, every other asset −60%", {"BTC": Decimal("-0.30")}, Decimal("-0.60")
)
SQUEEZE = Scenario("squeeze", "short squeeze: every asset +40%", {}, Decimal("0.40"))
NAMED = (CRASH, SQUEEZE)


def custom_scenario(shocks: Mapping[str, Decimal]) -> Scenario:
    """Return the scenario of ``--shock`` moves; unnamed assets stay where they are."""
    shown = ", ".join(f"{asset} {shock:+.1%}" for asset, shock in shocks.items())
    return Scenario("custom", shown, dict(shocks))


@dataclass(frozen=True, slots=True)
class Leg:
    """One perp leg: its position, today's mark, its market and its venue's maintenance tiers."""

    asset: str
    position: Position
    mark: Decimal
    market: Market
    brackets: tuple[Bracket, ...]


@dataclass(frozen=True, slots=True)
class Guard:
    """The margin guard's settings (`risk.margin_guard`, `risk.liquidation_*`)."""

    enabled: bool
    warning: Decimal
    target: Decimal
    critical: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """What is stressed: holdings, legs and the futures wallet's free collateral.

    ``planned``: the legs are the hedge the strategy would open (no hedge is open yet).
    """

    holdings: tuple[HoldingView, ...]
    legs: tuple[Leg, ...]
    free_collateral: Decimal
    method: LiquidationMethod
    guard: Guard
    planned: bool = False


def planned_position(
    symbol: str, contracts: Decimal, mark: Decimal, leverage: int, contract_size: Decimal
) -> Position:
    """Return the short a planned sell opens: entry at the mark, ``notional / leverage`` margin.

    The simulated exchange margins an opening order so; fees and slippage are left out.
    """
    margin = contracts * contract_size * mark / Decimal(leverage)
    return Position(
        symbol=symbol,
        side=PositionSide.SHORT,
        contracts=contracts,
        entry_price=mark,
        isolated_margin=margin,
        leverage=leverage,
        contract_size=contract_size,
        margin_mode="isolated",
        mark_price=mark,
    )


@dataclass(frozen=True, slots=True)
class LegOutcome:
    """One leg after the move."""

    symbol: str
    asset: str
    shock: Decimal
    mark: Decimal
    shocked_mark: Decimal
    contracts: Decimal
    margin: Decimal
    liquidation_price: Decimal | None
    distance_after: Decimal | None
    """Fraction of the shocked mark left to the liquidation price (negative: beyond it)."""
    liquidated: bool
    hedge_pnl: Decimal
    guard: MarginAction | None
    ride_margin: Decimal | None
    """Isolated margin that keeps the leg at full size alive at the shocked mark (None: the move
    is away from liquidation)."""
    add_before: Decimal
    """What the leg lacks of ``ride_margin`` now."""


@dataclass(frozen=True, slots=True)
class AssetOutcome:
    """One asset after the move: its spot and the legs on it."""

    asset: str
    shock: Decimal
    spot_value: Decimal
    spot_pnl: Decimal
    hedge_pnl: Decimal

    @property
    def share_removed(self) -> Decimal | None:
        """Return the share of the spot loss the hedge made good; None without a loss."""
        return share_removed(self.spot_pnl, self.hedge_pnl)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A scenario's result, per asset, per leg and in total."""

    scenario: Scenario
    assets: tuple[AssetOutcome, ...]
    legs: tuple[LegOutcome, ...]
    free_collateral: Decimal
    guard_budget: Decimal
    """Free collateral the guard needs after the jump to cut nothing, the legs holding at least
    their `LegOutcome.ride_margin` (ZERO with the guard off: it never cuts)."""
    notes: tuple[str, ...] = field(default=())

    @property
    def spot_pnl(self) -> Decimal:
        """Return the spot P&L of the move."""
        return sum((a.spot_pnl for a in self.assets), ZERO)

    @property
    def hedge_pnl(self) -> Decimal:
        """Return the hedge P&L of the move (liquidated legs lose their equity)."""
        return sum((leg.hedge_pnl for leg in self.legs), ZERO)

    @property
    def net(self) -> Decimal:
        """Return spot plus hedge P&L."""
        return self.spot_pnl + self.hedge_pnl

    @property
    def share_removed(self) -> Decimal | None:
        """Return the share of the spot loss the hedge made good; None without a loss."""
        return share_removed(self.spot_pnl, self.hedge_pnl)

    @property
    def margin_held(self) -> Decimal:
        """Return the isolated margin the legs hold now."""
        return sum((leg.margin for leg in self.legs), ZERO)

    @property
    def add_before(self) -> Decimal:
        """Return the margin to move into the legs before the move, or some are liquidated."""
        return sum((leg.add_before for leg in self.legs), ZERO)

    @property
    def collateral_needed(self) -> Decimal:
        """Return the futures collateral that comes through the move without a cut.

        The legs' margin today, what they lack to survive the jump (`add_before`: margin a leg
        holds beyond its need cannot help another, isolated margin stays with its position), and
        the free collateral the guard then needs to top up instead of cutting (`guard_budget`).
        """
        return self.margin_held + self.add_before + self.guard_budget

    @property
    def shortfall(self) -> Decimal:
        """Return what today's collateral (legs' margin and free) lacks of `collateral_needed`."""
        return max(self.collateral_needed - self.margin_held - self.free_collateral, ZERO)


def share_removed(spot_pnl: Decimal, hedge_pnl: Decimal) -> Decimal | None:
    """Return ``hedge_pnl / −spot_pnl`` when the spot loses, else None."""
    return hedge_pnl / -spot_pnl if spot_pnl < 0 else None


def ride_margin(
    method: LiquidationMethod,
    position: Position,
    mark: Decimal,
    shock: Decimal,
    table: Sequence[Bracket],
) -> Decimal | None:
    """Return the smallest margin in cents that keeps ``position`` alive at ``mark × (1 + shock)``.

    None when the move is away from liquidation. The exact margin ``W`` whose liquidation price is
    the shocked mark still liquidates (the exchange closes at that price), so the answer is the
    first cent above it; one cent less is liquidated.
    """
    adverse = shock > 0 if position.side is PositionSide.SHORT else shock < 0
    if not adverse:
        return None
    exact = margin_for_distance_for(
        method,
        position.side,
        position.contracts,
        position.entry_price,
        mark,
        abs(shock),
        table,
        position.contract_size,
    )
    if exact <= 0:
        return ZERO
    return (exact / CENT).to_integral_value(rounding=ROUND_FLOOR) * CENT + CENT


_Moved = dict[str, tuple[Leg, Decimal, Decimal | None, bool]]
"""Per symbol: the leg, its shocked mark, its liquidation price, and whether the move reaches it."""


def apply(book: Book, scenario: Scenario) -> Outcome:
    """Return what ``scenario`` does to ``book``: P&L, liquidations, guard, margin to ride it."""
    moved = _move(book.method, book.legs, scenario)
    actions = _guard(book, moved, book.free_collateral)
    legs = tuple(
        _leg_outcome(book.method, leg, scenario.shock(leg.asset), shocked, liq, hit, actions)
        for leg, shocked, liq, hit in moved.values()
    )
    assets = _asset_outcomes(book, scenario, legs)
    notes = list(scenario.notes)
    touched = {a.asset for a in assets}
    idle = sorted(a for a in scenario.shocks if a not in touched)
    if idle:
        notes.append(f"{', '.join(idle)}: neither held nor hedged; the shock changes nothing")
    budget = guard_budget(book, scenario, legs)
    return Outcome(scenario, assets, legs, book.free_collateral, budget, tuple(notes))


def guard_budget(book: Book, scenario: Scenario, outcomes: Sequence[LegOutcome]) -> Decimal:
    """Return the least free collateral (in cents) with which the guard cuts nothing after the move.

    The legs hold at least their ride margin (none is liquidated); the guard's own plan
    (`plan_margin_actions`) is asked, bisecting on the budget: more free collateral never makes it
    cut more (a top-up that fits leaves the rest; one that does not takes all, below warning and
    above critical). The bound is what it adds with unlimited collateral.
    """
    if not book.guard.enabled:
        return ZERO
    riding = {o.symbol: o.margin + o.add_before for o in outcomes}
    legs = tuple(
        replace(leg, position=replace(leg.position, isolated_margin=riding[leg.position.symbol]))
        for leg in book.legs
    )
    moved = _move(book.method, legs, scenario)

    def cuts(budget: Decimal) -> bool:
        actions = _guard(book, moved, budget).values()
        return any(a.kind is GuardKind.CUT for a in actions)

    if not cuts(ZERO):
        return ZERO
    unlimited = Decimal(10) ** 15
    high = sum((a.margin for a in _guard(book, moved, unlimited).values()), ZERO)
    low = ZERO  # cuts at low, none at high
    while high - low > CENT:
        middle = ((low + high) / 2 / CENT).to_integral_value(rounding=ROUND_FLOOR) * CENT
        if cuts(middle):
            low = middle
        else:
            high = middle
    return high


def _move(method: LiquidationMethod, legs: Sequence[Leg], scenario: Scenario) -> _Moved:
    moved: _Moved = {}
    for leg in legs:
        position = leg.position
        shocked = leg.mark * (1 + scenario.shock(leg.asset))
        liq = liquidation_price_for(
            method,
            position.side,
            position.contracts,
            position.entry_price,
            position.isolated_margin,
            leg.brackets,
            position.contract_size,
        )
        short = position.side is PositionSide.SHORT
        hit = liq is not None and (shocked >= liq if short else shocked <= liq)
        moved[position.symbol] = (leg, shocked, liq, hit)
    return moved


def _guard(book: Book, moved: _Moved, free: Decimal) -> dict[str, MarginAction]:
    """Return what the margin guard would order for the legs that survive, at the shocked marks."""
    if not book.guard.enabled:
        return {}
    alive = {s: (leg, shocked, liq) for s, (leg, shocked, liq, hit) in moved.items() if not hit}
    positions = {
        s: replace(leg.position, liquidation_price=liq, mark_price=shocked)
        for s, (leg, shocked, liq) in alive.items()
    }
    tables = {s: leg.brackets for s, (leg, _, _) in alive.items()}
    actions = plan_margin_actions(
        positions,
        {s: shocked for s, (_, shocked, _) in alive.items()},
        tables.__getitem__,
        {s: leg.market for s, (leg, _, _) in alive.items()},
        free,
        book.guard.warning,
        book.guard.target,
        book.guard.critical,
        book.method,
    )
    return {action.symbol: action for action in actions}


def _leg_outcome(
    method: LiquidationMethod,
    leg: Leg,
    shock: Decimal,
    shocked: Decimal,
    liq: Decimal | None,
    hit: bool,
    actions: Mapping[str, MarginAction],
) -> LegOutcome:
    position = leg.position

    def equity(price: Decimal) -> Decimal:
        return equity_at(
            position.side,
            position.contracts,
            position.entry_price,
            position.isolated_margin,
            price,
            position.contract_size,
        )

    pnl = -equity(leg.mark) if hit else equity(shocked) - equity(leg.mark)
    need = ride_margin(method, position, leg.mark, shock, leg.brackets)
    add = ZERO if need is None else max(need - position.isolated_margin, ZERO)
    return LegOutcome(
        symbol=position.symbol,
        asset=leg.asset,
        shock=shock,
        mark=leg.mark,
        shocked_mark=shocked,
        contracts=position.contracts,
        margin=position.isolated_margin,
        liquidation_price=liq,
        distance_after=liquidation_distance(position.side, shocked, liq),
        liquidated=hit,
        hedge_pnl=pnl,
        guard=actions.get(position.symbol),
        ride_margin=need,
        add_before=add,
    )


def _asset_outcomes(
    book: Book, scenario: Scenario, legs: Sequence[LegOutcome]
) -> tuple[AssetOutcome, ...]:
    spot = {h.asset: h.value for h in book.holdings}
    hedge: dict[str, Decimal] = {}
    for leg in legs:
        hedge[leg.asset] = hedge.get(leg.asset, ZERO) + leg.hedge_pnl
    return tuple(
        AssetOutcome(
            asset,
            scenario.shock(asset),
            spot.get(asset, ZERO),
            spot.get(asset, ZERO) * scenario.shock(asset),
            hedge.get(asset, ZERO),
        )
        for asset in sorted(spot.keys() | hedge.keys())
    )


# -- historical crash days ----------------------------------------------------------------------
class Period(Protocol):
    """A named crash window (`bot.backtest.windows.Window` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def what(self) -> str: ...


def worst_day(
    period: Period, daily: Mapping[str, BarSeries], weights: Mapping[str, Decimal]
) -> Scenario | None:
    """Return the UTC day of ``period`` that would have hurt today's holdings most, as a scenario.

    ``daily``: 1-day candles per asset; a day's return is ``close / open − 1``. The day is the one
    with the lowest return of the holdings weighted by ``weights`` (today's spot values) among
    those with a candle that day; its scenario moves every asset with a candle that day by its
    return and leaves the others where they are (said in a note). None when no weighted asset
    has a candle in the period.
    """
    returns: dict[int, dict[str, Decimal]] = {}
    start_ms, end_ms = _ms(period.start), _ms(period.end)
    for asset, series in daily.items():
        for bar in series.bars:
            if start_ms <= bar.open_ms < end_ms and bar.open > 0:
                returns.setdefault(bar.open_ms, {})[asset] = bar.close / bar.open - 1
    scored = [
        (sum(weights[a] * r for a, r in day.items() if a in weights) / total, open_ms)
        for open_ms, day in returns.items()
        if (total := sum((weights[a] for a in day if a in weights), ZERO)) > 0
    ]
    if not scored:
        return None
    _, worst = min(scored)
    day = returns[worst]
    when = datetime.fromtimestamp(worst / 1000, UTC)
    missing = sorted(a for a in {*weights, *daily} if a not in day)
    notes = (
        (f"{period.name}: no candle of {', '.join(missing)} on {when:%Y-%m-%d}: left unshocked",)
        if missing
        else ()
    )
    return Scenario(period.name, f"{period.what}: worst day {when:%Y-%m-%d}", day, ZERO, notes)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
