"""`validation.send_request`'s one-expression fast path accepts exactly what the
field-by-field checks accept, builds the same request, and on anything else raises the
same first error (field and message)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sendgate import validation as v
from sendgate.domain import SendRequest, Via
from sendgate.errors import InvalidArgument

# Around every limit: empty, control characters, lengths at and past the caps.
_CHARS = st.sampled_from(["a", "é", "\x00", "\x1f", "\x7f", " ", "\u2028", "\x85"])
_IDS = st.one_of(
    st.text(_CHARS, max_size=4),
    st.sampled_from(["s", "r", "x" * 128, "x" * 129, "m" * 256, "m" * 257]),
)
_TIMES = st.sampled_from([0, -1, 5, v.MIN_UNIX_MS - 1, v.MIN_UNIX_MS, 1_775_000_000_000])


def _outcome(fn: object, **fields: object) -> SendRequest | tuple[str, str]:
    try:
        return fn(**fields)  # type: ignore[operator, no-any-return]
    except InvalidArgument as err:
        return (err.field, err.message)


@settings(max_examples=1500, deadline=None)
@given(
    sender=_IDS,
    recipient=_IDS,
    message_id=_IDS,
    via=st.sampled_from([-1, 0, 1, 2, 3]),
    dry_run=st.booleans(),
    at=_TIMES,
    allow=st.booleans(),
    prefix=st.sampled_from(["", "requests[3]."]),
)
def test_fast_path_matches_the_field_checks(
    sender: str,
    recipient: str,
    message_id: str,
    via: int,
    dry_run: bool,
    at: int,
    allow: bool,
    prefix: str,
) -> None:
    fields = {
        "sender": sender,
        "recipient": recipient,
        "message_id_": message_id,
        "via_": via,
        "dry_run": dry_run,
        "at_unix_ms": at,
        "allow_client_time": allow,
        "prefix": prefix,
    }
    assert _outcome(v.send_request, **fields) == _outcome(v.send_request_checked, **fields)


def test_a_valid_request_is_built_field_for_field() -> None:
    got = v.send_request(
        sender="s", recipient="r", message_id_="m", via_=2, dry_run=True,
        at_unix_ms=v.MIN_UNIX_MS, allow_client_time=True,
    )  # fmt: skip
    assert got == SendRequest("s", "r", "m", Via.USERNAME, True, v.MIN_UNIX_MS)
    assert v.via(0) is Via.PHONE_NUMBER
