"""Backtests: replay history through the paper engine and measure what the insurance did."""
