"""Every key builder of a session puts its key in the session's cluster slot, so any script or MULTI over
one session's keys runs on one Redis Cluster node; the few global keys are named and kept apart."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import inventory.keys
import stream.keys
from infra.ids import session_tag
from infra.redis_cluster import key_slot

GLOBAL_KEYS = {"linli:outboxes", "linli:deadlines", "linli:flash_starts"}


@pytest.mark.parametrize("module", [inventory.keys, stream.keys], ids=lambda m: m.__name__)
def test_every_session_key_builder_lands_in_the_session_slot(module: ModuleType) -> None:
    """Each builder taking a session id, called with awkward ids for its other parts, gives a key whose
    slot is the session tag's; only the named global keys are module-level strings."""
    builders = 0
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        params = list(inspect.signature(fn).parameters)
        if fn.__module__ != module.__name__ or not params or params[0] != "sid":
            continue
        for sid in ("s1", "a-very-long.session_id-0123456789"):
            # Braces in the other parts must not move the key: only the first {...} counts.
            key = fn(sid, *(3 if p == "rule" else f"x{n}}}{{y" for n, p in enumerate(params[1:])))
            assert key_slot(key) == key_slot(session_tag(sid)), (name, key)
        builders += 1
    assert builders >= 8
    strings = {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and v.startswith("linli:")}
    assert strings <= GLOBAL_KEYS
