"""The fan-out reads an event's seq and a viewers count from the encoded bytes; pin how."""

from __future__ import annotations

from stream.frames import event_seq, viewers_count
from stream.protocol import CommentEvent, GrabResult, encoder


def published(seq: int, event: bytes) -> bytes:
    """An event as publish_event.lua puts it on the wire: seq and ts first."""
    return b'{"seq":%d,"ts":1700000000000,' % seq + event[1:]


def test_the_seq_of_a_published_event_is_read_from_its_first_bytes() -> None:
    """Published events carry their seq; a reply to one viewer carries none."""
    assert event_seq(published(42, encoder.encode(CommentEvent(user_id="u", text="hi")))) == 42
    assert event_seq(published(7_000_000_001, b'{"type":"stock","item_id":"i1","left":3}')) == 7_000_000_001
    assert event_seq(encoder.encode(GrabResult(request_id="r", ok=True))) is None


def test_a_viewers_count_is_read_and_a_comment_cannot_fake_one() -> None:
    """Only a real viewers event yields a count, whatever a comment's text says."""
    assert viewers_count(published(3, b'{"type":"viewers","count":1234}')) == 1234
    fake = encoder.encode(CommentEvent(user_id="u", text='"type":"viewers","count":99}'))
    assert viewers_count(published(4, fake)) is None
    assert viewers_count(published(5, b'{"type":"stock","item_id":"i1","left":3}')) is None
