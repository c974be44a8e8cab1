"""What the fan-out reads from an already encoded event, without decoding it once per viewer.

Every published event starts with ``{"seq":<n>,``: publish_event.lua and every script that
publishes (publish_stock, report_viewers, draw_lucky_bag) put seq first. So skipping the events
a viewer's snapshot already holds costs a prefix check and a few bytes, not a JSON decode.
"""

from __future__ import annotations

import re

import msgspec

from stream.protocol import Viewers

SEQ_PREFIX = b'{"seq":'
# A viewers event is the only one whose type sits right after ts; a comment's text cannot fake the
# mark, because the encoder escapes quotes inside strings.
_VIEWERS_MARK = b'"type":"viewers"'
_viewers = msgspec.json.Decoder(Viewers)
_SEQ_AND_TS = re.compile(rb'\{"seq":\d+,"ts":(\d+)')


def event_seq(data: bytes) -> int | None:
    """The seq of a published event, or None for a frame that carries none (a reply to one viewer)."""
    if not data.startswith(SEQ_PREFIX):
        return None
    return int(data[len(SEQ_PREFIX):data.index(b",", len(SEQ_PREFIX))])


def viewers_count(data: bytes) -> int | None:
    """The total of a viewers event, or None for any other event."""
    if _VIEWERS_MARK not in data:
        return None
    return _viewers.decode(data).count


def event_ts(data: bytes) -> int | None:
    """When a published event was published (epoch ms, Redis's clock: every publishing script puts it after seq)."""
    found = _SEQ_AND_TS.match(data)
    return int(found[1]) if found else None
