"""The editions the hub makes of an event that names people: read from the published bytes, each made once."""

from __future__ import annotations

import json

from stream.audience import editions, event_type, may_watch, sees_ids, winners_of
from stream.frames import event_seq
from stream.protocol import CommentEvent, encoder


def published(seq: int, event: bytes) -> bytes:
    """An event as publish_event.lua puts it on the wire: seq and ts first."""
    return b'{"seq":%d,"ts":1700000000000,' % seq + event[1:]


RESULT = b'{"seq":9,"ts":1700000000000,"type":"lucky_bag_result","bag_id":"b1","winners":["wang","li"],"entrants":5}'


def test_a_comment_reaches_staff_whole_and_everyone_else_without_its_user_id() -> None:
    """Staff get the published bytes; the public edition keeps seq first, the name and role, and drops user_id."""
    data = published(7, encoder.encode(CommentEvent(user_id="wang", name="王*香", role="resident", text="好")))
    made = editions(data)
    assert made is not None and made.for_viewer("host1", "host") is data
    public = made.for_viewer("li", "resident")
    assert made.for_viewer("grid1", "grid") is public and made.for_viewer("wang", "pickup") is public
    assert event_seq(public) == 7
    assert json.loads(public) == {"seq": 7, "ts": 1700000000000, "type": "comment", "text": "好", "name": "王*香",
                                  "role": "resident"}


def test_a_draw_gives_staff_ids_others_names_and_each_winner_her_won() -> None:
    """Winners' ids for staff; masked names (empty for the unregistered) for the rest; won on winners' copies."""
    made = editions(RESULT, {"wang": "王*香"})
    assert made is not None and winners_of(RESULT) == ["wang", "li"]
    assert made.for_viewer("op", "operator") is RESULT
    public, won = json.loads(made.for_viewer("zhao", "resident")), json.loads(made.for_viewer("li", "resident"))
    assert public == {"seq": 9, "ts": 1700000000000, "type": "lucky_bag_result", "bag_id": "b1", "entrants": 5,
                      "winner_names": ["王*香", ""]}
    assert won == {**public, "won": True}
    assert event_seq(made.for_viewer("li", "resident")) == 9


def test_other_events_have_no_editions_and_a_comment_cannot_pose_as_a_draw() -> None:
    """Stock and viewers events go out as they are; a comment whose text names another type is still a comment."""
    assert editions(published(3, b'{"type":"stock","item_id":"i1","left":3}')) is None
    assert editions(published(4, b'{"type":"viewers","count":12}')) is None
    trick = published(5, encoder.encode(CommentEvent(user_id="u", text='"type":"lucky_bag_result","winners":["x"]')))
    assert event_type(trick) == b"comment" and winners_of(trick) == []


def test_who_watches_and_who_sees_ids() -> None:
    """Staff see ids; residents, grid workers and pickup points watch without them; a supplier does not watch."""
    assert [r for r in ("host", "admin", "operator", "resident", "grid", "pickup", "supplier") if sees_ids(r)] == [
        "host", "admin", "operator"]
    assert [r for r in ("host", "admin", "operator", "resident", "grid", "pickup", "supplier") if not may_watch(r)] == [
        "supplier"]


def test_a_masked_name_keeps_the_first_and_last_character() -> None:
    """王玉香 -> 王*香, 欧阳娜娜 -> 欧**娜, 王芳 -> 王*; only a one-character name shows whole."""
    from community.api import masked

    names = ("王玉香", "欧阳娜娜", "王芳", "芳", " 李建国 ")
    assert [masked(n) for n in names] == ["王*香", "欧**娜", "王*", "芳", "李*国"]
