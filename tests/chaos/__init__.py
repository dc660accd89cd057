"""The chaos soak: trials that kill the bot at random moments while faults fire and targets move.

`harness` runs trials (``scripts/soak.py`` many, ``tests/live/test_soak.py`` the CI slice);
`catalogue` draws the faults; `ledger` keeps what the exchange did and which targets were in
force when; `invariants` judges a trial.
"""
