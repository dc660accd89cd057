"""Serve an emulated Binance account for ccxt clients: python scripts/run_emulator.py --help."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from bot.emulator.standalone import run_standalone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="market history directory (default: simulated market)")
    parser.add_argument("--assets", default="BTC,ETH", help="comma-separated assets")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="emulator-key")
    parser.add_argument("--api-secret", default="emulator-secret")
    parser.add_argument("--speed", type=float, default=1.0, help="replay seconds per wall second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_standalone(
                args.data_dir,
                [a.strip().upper() for a in args.assets.split(",") if a.strip()],
                args.port,
                args.api_key,
                args.api_secret,
                args.speed,
            )
        )


if __name__ == "__main__":
    main()
