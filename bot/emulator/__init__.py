"""A Binance REST emulator over the simulation core, for the real ccxt clients."""
