"""Expiry values and the injectable clock (issue 18), and what the report shows of them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from reconciler.errors import ReconcilerError
from reconciler.expiry import Expiry, ExpiryFormatError, MemberExpiries, current_time, parse_expires
from reconciler.report import build_report, render_csv, render_html, report_to_dict
from reconciler.state import Membership, Snapshot, User, Workspace


@pytest.mark.parametrize(
    ("value", "at", "shown"),
    [
        (date(2027, 3, 31), datetime(2027, 3, 31, tzinfo=UTC), "2027-03-31"),
        ("2027-03-31", datetime(2027, 3, 31, tzinfo=UTC), "2027-03-31"),
        ("2027-03-31T17:00:00+02:00", datetime(2027, 3, 31, 15, tzinfo=UTC), "2027-03-31 15:00 UTC"),
        ("2027-03-31 17:00:05Z", datetime(2027, 3, 31, 17, 0, 5, tzinfo=UTC), "2027-03-31 17:00:05 UTC"),
        (
            datetime(2027, 3, 31, 1, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2027, 3, 31, 6, tzinfo=UTC),
            "2027-03-31 06:00 UTC",
        ),
    ],
)
def test_dates_and_zoned_timestamps_are_read_and_shown_in_utc(value: object, at: datetime, shown: str) -> None:
    expiry = parse_expires(value)
    assert (expiry.at, expiry.describe()) == (at, shown)
    assert expiry.expired(at) and not expiry.expired(at - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2027-03-31T17:00:00", "has no time zone"),
        (datetime(2027, 3, 31, 17), "has no time zone"),
        ("2027-02-30", "is not a date (no such day)"),
        ("soon", "is not a date (2027-03-31) or a timestamp with zone"),
        (20270331, "got the number 20270331"),
        (True, "got the boolean true"),
    ],
)
def test_anything_else_is_refused_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ExpiryFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_expires(value)


def test_the_clock_is_the_machine_s_unless_reconciler_now_names_a_moment() -> None:
    assert current_time({"RECONCILER_NOW": "2027-04-01"}) == datetime(2027, 4, 1, tzinfo=UTC)
    assert abs(current_time({}) - datetime.now(UTC)) < timedelta(minutes=1)
    with pytest.raises(ReconcilerError, match="RECONCILER_NOW: "):
        current_time({"RECONCILER_NOW": "2027-04-01T10:00"})


def test_the_report_shows_when_access_expires() -> None:
    member = Membership("pat@acme.example", "end-user", "active", frozenset({"finance"}))
    snapshot = Snapshot(
        {"acme": Workspace("acme", "Acme", groups={}, memberships={member.email: member})},
        {member.email: User(member.email, "Pat")},
    )
    ends = MemberExpiries(
        membership=parse_expires("2027-03-31"),
        groups={"finance": Expiry(datetime(2027, 2, 1, 9, tzinfo=UTC))},
    )

    report = build_report(snapshot, ["acme"], expiries={"acme": {member.email: ends}})

    (entry,) = report_to_dict(report)["workspaces"][0]["members"]
    assert entry["expires"] == [
        {"group": "finance", "expires": "2027-02-01 09:00 UTC"},
        {"group": "", "expires": "2027-03-31"},
    ]
    assert render_csv(report).splitlines()[1].endswith(",group finance 2027-02-01 09:00 UTC; membership 2027-03-31")
    html = render_html(report)
    assert "<h3>Access that expires</h3>" in html
    assert "<td>pat@acme.example</td><td>membership</td><td>2027-03-31</td>" in html
