"""A Bybit v5 REST emulator (unified trading account) over the simulation core, for ccxt's bybit."""
