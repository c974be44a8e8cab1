"""Benchmarks: one module per figure, each printed next to a baseline measured in the same run.

    linli bench reserve     bench/reserve.py    inventory.reserve vs the same script with no Python in the way
    linli bench grab        bench/grab.py       websocket grabs through one web process vs the reserve baselines
    linli bench fanout      bench/fanout.py     the host's flash start to the last viewer, memory per viewer
    linli bench peers       bench/peers.py      the same fan-out beside websockets, plain aiohttp and Socket.IO servers
    linli bench aggregate   bench/aggregate.py  wish lines into supplier orders vs a bare SQL GROUP BY
    linli bench outbox      bench/outbox.py     the outbox worker's drain into SQL vs bare batched INSERTs

``bench/common.py`` holds what they share: a temporary folder, a private Redis server unless
REDIS_URL is set, a SQL database, percentiles and medians. docs/benchmarks.md has the figures
and what limits each one.
"""
