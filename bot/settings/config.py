"""Configuration: TOML files validated by pydantic models.

A wrong value fails before anything runs, with a message naming the field, the value and what is
allowed (`load_config` raises `ConfigError`). Secrets never live here: API keys come from the
environment or a secrets file (see `bot.settings.secrets`).
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.errors import ConfigError
from bot.settings.secrets import KEY_ENV, SECRET_ENV, mask, remember
from strategies import units
from strategies.baskets import DEFAULT_CANDIDATES, BasketRules
from strategies.estimators import Estimator
from strategies.registry import create_strategy

HARD_MAX_LEVERAGE = 3
"""No config can raise leverage above this: the article prescribes 1–2×, 3× is the ceiling."""


def parse_duration(text: str | int | float) -> int:
    """Return whole seconds (> 0) for ``"30s"``, ``"15m"``, ``"4h"``, ``"1d"`` or a number."""
    seconds = int(units.parse_duration(text).total_seconds())
    if seconds <= 0:
        raise ValueError(f"{text!r} must be a positive duration")
    return seconds


def _checked_duration(text: str) -> str:
    parse_duration(text)
    return text


DurationText = Annotated[str, AfterValidator(_checked_duration)]
"""A duration as written ("15m", "4h"…), checked to be positive; `parse_duration` reads it."""

Ratio = Annotated[Decimal, Field(ge=0)]
Positive = Annotated[Decimal, Field(gt=0)]
Asset = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,15}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxyLeg(_Model):
    """One perp used to hedge a holding that has no perp of its own."""

    asset: Asset
    weight: Positive


class BasketConfig(_Model):
    """How holdings without a usable perp are proxied, and how their legs are sized."""

    min_volume: Positive | None = None
    """24h quote volume (USDT) a holding's own perp needs; below it the holding is proxied."""
    auto_proxy: bool = True
    """Hedge a holding with no usable perp and no configured proxy by anchor + best candidate."""
    anchor: Asset = "BTC"
    anchor_weight: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.5")
    candidates: list[Asset] = Field(default_factory=lambda: list(DEFAULT_CANDIDATES))
    """Perps tried as the auto proxy's second leg: the one most correlated with the holding."""
    lookback: DurationText = "30d"
    """History used for correlations and betas."""
    beta: bool = False
    """Size proxy legs by the holding's beta to them: notional = ratio × beta × value."""
    min_variance: bool = False
    """Size a multi-leg proxy by one joint regression (minimum-variance hedge) instead."""
    beta_range: tuple[Positive, Positive] = (Decimal("0.5"), Decimal(2))
    estimator: Estimator = "downside"
    """Beta from the basket's worst bars (``downside``, crash-conditional) or from all (``ols``)."""
    downside_quantile: Annotated[float, Field(gt=0, le=1)] = 0.2
    """The share of the lookback's bars, the basket's worst, a downside beta is read from."""

    @field_validator("beta_range")
    @classmethod
    def _ordered(cls, value: tuple[Decimal, Decimal]) -> tuple[Decimal, Decimal]:
        if value[0] > value[1]:
            raise ValueError(f"beta_range {list(value)} is reversed; write [low, high]")
        return value

    def rules(self, bar_seconds: int) -> BasketRules:
        """Return the basket rules with the lookback counted in history bars of ``bar_seconds``."""
        return BasketRules(
            min_volume=self.min_volume,
            auto_proxy=self.auto_proxy,
            anchor=self.anchor,
            anchor_weight=self.anchor_weight,
            candidates=tuple(self.candidates),
            lookback_bars=max(2, parse_duration(self.lookback) // bar_seconds),
            lookback=self.lookback,
            beta=self.beta,
            min_variance=self.min_variance,
            beta_min=self.beta_range[0],
            beta_max=self.beta_range[1],
            estimator=self.estimator,
            downside_quantile=self.downside_quantile,
        )


class HedgeConfig(_Model):
    """How targets become legs and orders."""

    deadband: Annotated[Decimal, Field(ge=0, le=Decimal("0.5"))] = Decimal("0.05")
    """Skip a leg whose gap is at most this fraction of its target (no churn)."""
    proxies: dict[str, list[ProxyLeg]] = Field(default_factory=dict)
    """Holding asset -> perps (and weights) hedging it when it has no perp of its own."""
    perps: list[Asset] | None = None
    """Assets with a tradable perp; None = every perp the venue lists."""
    quote: str = "USDT"
    baskets: BasketConfig = Field(default_factory=BasketConfig)

    @field_validator("proxies")
    @classmethod
    def _weights_sum_to_one(cls, proxies: dict[str, list[ProxyLeg]]) -> dict[str, list[ProxyLeg]]:
        for asset, legs in proxies.items():
            if not legs:
                raise ValueError(f"proxy basket for {asset} is empty; list at least one leg")
            total = sum((leg.weight for leg in legs), Decimal(0))
            if total != 1:
                raise ValueError(f"proxy weights for {asset} sum to {total}; they must sum to 1")
        return proxies


class StrategyConfig(BaseModel):
    """The strategy by name plus its own parameters (validated by the strategy itself)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "static"

    def params(self) -> dict[str, Any]:
        """Return the strategy's own parameters (everything but ``name``)."""
        return dict(self.model_extra or {})


class RiskConfig(_Model):
    """Hard limits the guards enforce on every cycle."""

    leverage: Annotated[int, Field(ge=1)] = 1
    max_leverage: Annotated[int, Field(ge=1, le=HARD_MAX_LEVERAGE)] = 2
    max_order_notional: Positive = Decimal(1_000_000)
    max_total_notional: Positive = Decimal(5_000_000)
    max_price_age: DurationText = "15m"
    max_hedge_ratio: Annotated[Decimal, Field(ge=0, le=3)] = Decimal("1.5")
    """Total short notional may not exceed this multiple of the insured spot value."""
    max_daily_turnover: Positive = Decimal(2_000_000)
    """Notional traded over any 24 hours (fills plus planned orders); guard cuts are exempt."""
    margin_guard: bool = True
    """Keep positions away from liquidation (top up, then cut); off only to study its absence."""
    liquidation_warning: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.25")
    """Below this distance from mark to liquidation, add isolated margin from free collateral."""
    liquidation_target: Annotated[Decimal, Field(gt=0, lt=2)] = Decimal("0.35")
    """Distance that a margin top-up (or a cut) restores."""
    liquidation_critical: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.10")
    """Below this distance, with no collateral left to add, cut the hedge."""
    margin_policy: Literal["jumps", "fixed"] = "jumps"
    """``jumps``: keep each short at least ``jump_safety ×`` its asset's largest rise over one
    interval or one day in ``jump_lookback`` from liquidation (never less than
    ``liquidation_warning``), funded from free collateral; ``fixed``: the three levels alone."""
    jump_lookback: DurationText = "1095d"
    """Spot history the jump policy reads, at most once a day per asset (an exchange may give
    fewer candles: Binance and Bybit 1,000 per request, ~166 days of 4h bars)."""
    jump_safety: Annotated[Decimal, Field(ge=1, le=5)] = Decimal("1.5")
    """Multiple of the largest close-to-close rise a short must stand (a bar's high adds ~1.5×)."""
    jump_distance_cap: Annotated[Decimal, Field(gt=0, le=3)] = Decimal("1.5")
    """The most distance the jump policy asks for (1.5 = 150%, margin ~2.5× the notional)."""
    kill_switch_file: str = "var/hedgebot.halt"
    """While this file exists no order is placed (the loop keeps observing and recording)."""
    max_basis: Annotated[Decimal, Field(gt=0, le=Decimal("0.5"))] = Decimal("0.05")
    """A perp price further than this from its spot price is implausible: the leg is not traded."""
    order_settle_timeout: DurationText = "60s"
    """A journaled order the exchange does not show after this is abandoned (never placed); an
    order resting unfilled for this long is cancelled. Longer than the exchange's receive window."""
    confirm_unexplained: DurationText = "60s"
    """A position change that no fill explains is acted on only once seen unchanged this long."""
    adl_warn_rank: Annotated[int, Field(ge=0, le=5)] = 3
    """`hedgebot status` marks legs whose auto-deleveraging rank is at least this (Binance
    0–4, Bybit 0–5; higher is closer to being deleveraged)."""

    @model_validator(mode="after")
    def _leverage_within_cap(self) -> RiskConfig:
        if self.leverage > self.max_leverage:
            raise ValueError(
                f"leverage: {self.leverage} is above max_leverage {self.max_leverage}; "
                f"use 1..{self.max_leverage} (hard ceiling {HARD_MAX_LEVERAGE})"
            )
        return self

    @model_validator(mode="after")
    def _liquidation_levels_ordered(self) -> RiskConfig:
        if not self.liquidation_critical < self.liquidation_warning < self.liquidation_target:
            raise ValueError(
                "liquidation_warning: levels must satisfy liquidation_critical "
                f"({self.liquidation_critical}) < liquidation_warning "
                f"({self.liquidation_warning}) < liquidation_target ({self.liquidation_target})"
            )
        return self

    @model_validator(mode="after")
    def _jump_cap_above_warning(self) -> RiskConfig:
        if self.jump_distance_cap < self.liquidation_warning:
            raise ValueError(
                f"jump_distance_cap: {self.jump_distance_cap} is below liquidation_warning "
                f"({self.liquidation_warning}); the jump policy never asks less than the warning"
            )
        return self

    @property
    def jump_lookback_seconds(self) -> int:
        """Return the jump policy's lookback in seconds."""
        return parse_duration(self.jump_lookback)

    @property
    def max_price_age_seconds(self) -> int:
        """Return the staleness limit in seconds."""
        return parse_duration(self.max_price_age)

    @property
    def order_settle_seconds(self) -> int:
        """Return how long an order may stay unsettled before it is abandoned or cancelled."""
        return parse_duration(self.order_settle_timeout)

    @property
    def confirm_unexplained_seconds(self) -> int:
        """Return how long an unexplained position must hold before the bot acts on it."""
        return parse_duration(self.confirm_unexplained)


class PaperConfig(_Model):
    """The simulated account and market of paper mode."""

    holdings: dict[Asset, Annotated[Decimal, Field(ge=0)]] = Field(default_factory=dict)
    collateral: Annotated[Decimal, Field(ge=0)] = Decimal(10_000)
    """USDT in the futures wallet, set aside for margin; never the insured spot."""
    taker_fee: Annotated[Decimal, Field(ge=0, le=Decimal("0.01"))] = Decimal("0.0005")
    slippage_bps: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(2)
    data_dir: str | None = None
    """Directory of history CSVs; unset = env HEDGEBOT_DATA_DIR, else the simulated market."""
    start: datetime | None = None
    end: datetime | None = None
    simulated_bars: Annotated[int, Field(ge=10)] = 540
    seed: int = 7

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> PaperConfig:
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end: {self.end} must be after start {self.start}")
        return self


class ExchangeConfig(_Model):
    """Which venue: the paper simulator or a ccxt exchange."""

    name: Literal["paper", "binanceusdm", "bybit"] = "paper"
    testnet: Literal["demo", "testnet"] | None = None
    """None: production. ``"demo"``: ccxt's demo trading (Binance USDⓈ-M, Bybit);
    ``"testnet"``: ccxt's sandbox (Bybit's testnet.bybit.com). ccxt allows only one of them."""
    account: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = "main"
    secrets_file: str | None = None
    """TOML file with api_key and api_secret (else $HEDGEBOT_API_KEY / $HEDGEBOT_API_SECRET)."""
    api_url: Annotated[str, Field(pattern=r"^http://(127\.0\.0\.1|localhost):\d+$")] | None = None
    """Send every API call to a local exchange emulator (`hedgebot emulator`) instead."""
    order_type: Literal["market", "ioc_limit"] = "market"
    max_slippage_bps: Annotated[Decimal, Field(gt=0, le=500)] = Decimal(50)
    """Limit price distance of ``ioc_limit`` orders from the reference price."""
    requests_per_second: Annotated[float, Field(gt=0, le=50)] = 8.0
    """Our own request budget, on top of ccxt's rate limiter."""
    ccxt_rate_limit: bool | None = None
    """ccxt's own limiter, which paces calls by the exchange's request weights. Unset: on for an
    exchange, off for the local emulator (``api_url``), which enforces no weights; ``false`` is
    refused without ``api_url``."""
    streams: bool = True
    """Follow the account and the marks on the exchange's websocket streams (ccxt.pro) and run a
    cycle within seconds of a liquidation, ADL, manual trade, fill or squeeze; the interval loop
    stays as the reconciling heartbeat. Paper mode has no streams (ignored there)."""

    @field_validator("testnet", mode="before")
    @classmethod
    def _testnet_named(cls, value: Any) -> Any:
        if value is False:
            return None
        if value is True:
            raise ValueError(
                'true does not say which: write "demo" (ccxt demo trading: Binance USDⓈ-M or '
                'Bybit) or "testnet" (ccxt sandbox: Bybit testnet.bybit.com); leave it out for '
                "production"
            )
        return value

    @model_validator(mode="after")
    def _paced_on_an_exchange(self) -> ExchangeConfig:
        if self.ccxt_rate_limit is False and self.api_url is None:
            raise ValueError(
                "ccxt_rate_limit: false is for the local emulator only (exchange.api_url); an "
                "exchange bans a client that ignores its request weights"
            )
        return self

    @model_validator(mode="after")
    def _testnet_fits_exchange(self) -> ExchangeConfig:
        if self.testnet is None:
            return self
        if self.name == "paper":
            raise ValueError(
                f"testnet: paper mode trades on no exchange, so {self.testnet!r} means nothing; "
                "remove exchange.testnet or set exchange.name to binanceusdm or bybit"
            )
        if self.name == "binanceusdm" and self.testnet == "testnet":
            raise ValueError(
                "testnet: Binance USDⓈ-M has no sandbox in ccxt (its futures testnet is retired); "
                'use testnet = "demo" (demo trading, keys from demo.binance.com)'
            )
        return self

    @property
    def paced_by_ccxt(self) -> bool:
        """Return whether ccxt's own rate limiter paces the calls (see `ccxt_rate_limit`)."""
        if self.ccxt_rate_limit is None:
            return self.api_url is None
        return self.ccxt_rate_limit

    @property
    def environment(self) -> str:
        """Return where orders go: ``PRODUCTION``, ``demo trading`` or ``testnet``."""
        return {"demo": "demo trading", "testnet": "testnet"}.get(self.testnet or "", "PRODUCTION")


class JournalConfig(_Model):
    """Where every order, fill and funding payment is recorded."""

    url: str = "sqlite:///hedgebot.sqlite"


class NotifyConfig(_Model):
    """Alerts through apprise: what is sent, to whom at least, and how often.

    The targets come from $HEDGEBOT_NOTIFY_URLS or the secrets file (``notify_urls``), never from
    a config: their URLs carry tokens.
    """

    min_severity: Literal["info", "warning", "error", "critical"] = "warning"
    """Least severity sent to a target that does not name its own (``error=URL``)."""
    timeout: DurationText = "10s"
    """How long one send may take; it runs beside the cycle, which never waits for it."""
    retry_after: DurationText = "5m"
    """A message a target did not take is sent again after this (at most `retries` times)."""
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    dedup_window: DurationText = "1h"
    """The same alert (kind, leg, what) is sent once in this window."""
    rate_limit: Annotated[int, Field(ge=1)] = 20
    """At most this many messages per target in `rate_window`; the next one says how many were
    held back. Critical alerts are never held back."""
    rate_window: DurationText = "1h"
    stale_cycles: Annotated[int, Field(ge=1)] = 3
    """Alert when this many cycles in a row refused to act on stale or missing prices."""
    digest_hour: Annotated[int, Field(ge=0, le=23)] | None = 8
    """UTC hour of the daily digest (hedge ratios, liquidation distances, carry, funding);
    unset = no digest."""

    @property
    def timeout_seconds(self) -> int:
        """Return the send timeout in seconds."""
        return parse_duration(self.timeout)

    @property
    def retry_seconds(self) -> int:
        """Return the wait before a failed send is tried again, in seconds."""
        return parse_duration(self.retry_after)

    @property
    def dedup_seconds(self) -> int:
        """Return the deduplication window in seconds."""
        return parse_duration(self.dedup_window)

    @property
    def rate_window_seconds(self) -> int:
        """Return the rate-limit window in seconds."""
        return parse_duration(self.rate_window)


class Config(_Model):
    """The whole configuration file."""

    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    paper: PaperConfig = Field(default_factory=PaperConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    hedge: HedgeConfig = Field(default_factory=HedgeConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    inputs: dict[str, Decimal] = Field(default_factory=dict)
    """Outside figures handed to the strategy, e.g. ``implied_vol = 0.65`` (an IV index of 65)."""
    interval: DurationText = "4h"

    @model_validator(mode="after")
    def _paper_has_holdings(self) -> Config:
        if self.exchange.name == "paper" and not any(self.paper.holdings.values()):
            raise ValueError(
                "paper.holdings: paper mode needs holdings; add e.g. [paper.holdings] BTC = 0.5 "
                "(asset = amount, at least one above zero)"
            )
        return self

    @property
    def interval_seconds(self) -> int:
        """Return the loop interval in seconds."""
        return parse_duration(self.interval)

    @property
    def is_paper(self) -> bool:
        """Return True when the venue is the paper simulator."""
        return self.exchange.name == "paper"


_SUBFIELD = re.compile(r"^([a-z_][a-z_.]*): (.*)$", re.DOTALL)
_SECRET_NAME = re.compile(r"(^|_)(api_?key|key|secret|password|passphrase|token)s?($|_)", re.I)
_NOT_SECRET = frozenset({"secrets_file"})
SECRET_IN_CONFIG = (
    "secrets do not belong in a config file (configs get copied and committed): remove it, "
    f"revoke the key if the file was shared, and set {KEY_ENV} / {SECRET_ENV} or point "
    "exchange.secrets_file to a TOML file with api_key and api_secret (chmod 600)"
)


def _secret_named(name: str) -> bool:
    return name not in _NOT_SECRET and _SECRET_NAME.search(name) is not None


def _remember_pasted_secrets(data: Any, name: str = "") -> None:
    """Remember for `secrets.mask` every value under a secret-looking key of a config."""
    if isinstance(data, dict):
        for key, value in data.items():
            _remember_pasted_secrets(value, str(key))
    elif isinstance(data, list):
        for value in data:
            _remember_pasted_secrets(value, name)
    elif _secret_named(name) and isinstance(data, str) and len(data) >= 8:
        remember(data)


def format_validation_error(error: ValidationError, source: str) -> str:
    """Turn pydantic's errors into lines naming field, value and what is allowed.

    A cross-field check names its field by starting its message with ``"field: "``.
    A value is shown only for a known field whose name does not look like a secret's, and
    masked (`bot.settings.secrets.mask`); an unknown field never shows its value.
    """
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        path = [str(part) for part in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {mask(repr(value))})"
        named = _SUBFIELD.match(message) if item["type"] == "value_error" else None
        if named is not None:
            path, message, shown = [*path, named.group(1)], named.group(2), ""
        if item["type"] == "extra_forbidden":
            shown = ""
            if path and _secret_named(path[-1]):
                message = SECRET_IN_CONFIG
            else:
                message = "unknown field; check the spelling against the README's reference"
        elif path and _secret_named(path[-1]):
            shown = ""
        lines.append(f"  - {'.'.join(path) or '(top level)'}: {mask(message)}{shown}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate a config mapping; raise `ConfigError` naming each bad field."""
    _remember_pasted_secrets(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None
    create_strategy(config.strategy.name, config.strategy.params(), source)
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return parse_config(data, str(path))
