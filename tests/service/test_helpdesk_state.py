"""The helpdesk connector's state on a real Redis: two write-backs of one ticket at once write one
private comment, and one that failed leaves it to the next (smartsupport/store/helpdesk.py)."""

from __future__ import annotations


def test_of_two_write_backs_at_once_one_writes_the_comment_and_a_failed_one_leaves_it_to_the_next(store):
    assert [store.helpdesk.claim_comment("t1"), store.helpdesk.claim_comment("t1")] == [True, False]

    store.helpdesk.release_comment("t1")  # its write failed
    assert store.helpdesk.claim_comment("t1") is True
    store.helpdesk.note_commented("t1")  # written

    assert store.helpdesk.claim_comment("t1") is False and store.helpdesk.commented("t1")
    assert store.helpdesk.claim_comment("t2") is True  # each ticket its own


def test_a_claim_lapses_so_that_a_write_back_that_died_holding_it_blocks_no_retry(store):
    assert store.helpdesk.claim_comment("t3", hold_s=300)
    assert 0 < store.r.ttl("ss:helpdesk:commenting:t3") <= 300
