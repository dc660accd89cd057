"""The exchanges' websocket streams, served beside each REST face on the same port.

`hub.StreamHub` follows the emulated account (`changes.AccountWatcher`) and feeds every open
socket; `binance.BinanceStreams` and `bybit.BybitStreams` speak each exchange's stream dialect
(listen keys and user data events; v5 auth, topics and tickers). The stream faults (drop every
socket, a stale stream, an expired listen key) live on the hub and the Binance face.
"""
