"""Export any changelist as CSV (casino.admin_export): the selected rows or the whole filtered
list, with the list's columns, streamed; only for staff holding ``casino.export_data``, and
every export audited (who, which list, which filters, how many rows)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils.html import format_html

from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, staff_with
from casino.admin_export import csv_cell
from casino.models import AuditLog
from casino.services import audit_record

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"


def rows_of(response: Any) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def export(client: Client, url: str, selected: list[Any], **extra: str) -> Any:
    return client.post(url, {"action": "export_as_csv", "_selected_action": [obj.pk for obj in selected], **extra})


def test_staff_with_the_permission_export_the_selected_players_with_the_lists_columns() -> None:
    # Given a staff member who sees players and may export
    client, staff = staff_with("accounts.view_user", "casino.export_data")
    alice = UserFactory(site_id="alice", nickname="Alice", phone_number="+15550000001")
    UserFactory(site_id="bob")

    # When they export one selected player
    response = export(client, USERS, [alice])

    # Then they get a CSV with the list's columns and that player only
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="accounts-user-')
    header, *rows = rows_of(response)
    assert {"Login id", "Phone number", "Is active"} <= set(header)
    assert len(rows) == 1
    cells = dict(zip(header, rows[0], strict=True))
    assert (cells["Login id"], cells["Phone number"], cells["Is active"]) == ("alice", "+15550000001", "yes")
    assert any("Alice" in cell for cell in rows[0])
    # And the export is on the audit log: who, which list, how many rows
    record = AuditLog.objects.get(action="changelist_export")
    assert (record.actor, record.target_type, record.target_id) == (staff, "accounts.user", "1 row(s)")
    assert record.data["rows"] == 1 and record.data["selected"] == [str(alice.pk)]
    assert record.data["whole_list"] is False


def test_select_all_exports_the_whole_filtered_list() -> None:
    client, _ = staff_with("accounts.view_user", "casino.export_data")
    found = [UserFactory(site_id=f"spring{n}") for n in range(3)]
    UserFactory(site_id="autumn1")

    response = export(client, f"{USERS}?q=spring", found[:1], select_across="1")

    header, *rows = rows_of(response)
    login = header.index("Login id")
    assert sorted(row[login] for row in rows) == ["spring0", "spring1", "spring2"]
    record = AuditLog.objects.get(action="changelist_export")
    assert (record.data["rows"], record.data["filters"], record.data["whole_list"]) == (3, "q=spring", True)


def test_a_read_only_list_exports_too_with_html_columns_as_text() -> None:
    client, _ = staff_with("casino.view_auditlog", "casino.export_data")
    record = audit_record(actor=None, action="user_ban", target_type="accounts.user", target_id=7, reason="<b>spam</b>")

    response = export(client, "/admin/casino/auditlog/", [record])

    header, row = rows_of(response)
    cells = dict(zip(header, row, strict=True))
    assert (cells["Action"], cells["Target type"], cells["Reason"]) == ("user_ban", "accounts.user", "<b>spam</b>")
    # (a stored value stays as it is; only markup the admin itself adds becomes text)


def test_staff_without_the_permission_are_not_offered_the_export_and_a_forged_one_exports_nothing() -> None:
    support, _ = staff_with("accounts.view_user", "accounts.ban_user")
    player = UserFactory()

    assert "export_as_csv" not in offered_actions(support, USERS)
    response = export(support, USERS, [player])

    assert not isinstance(response, StreamingHttpResponse)
    assert not response.get("Content-Disposition")
    assert not AuditLog.objects.exists()


def test_only_the_admin_role_exports() -> None:
    from accounts.services.staff import STAFF_ROLES

    holders = {
        role.name for role in STAFF_ROLES if "casino.export_data" in role.permissions or "casino" in role.all_of_apps
    }

    assert holders == {"admin"}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-12", "-12"),  # a number stays a number
        ("+3.5", "+3.5"),
        ("plain", "plain"),
        (None, ""),
        (True, "yes"),
        (format_html('<a href="/x">{}</a>', "Nick & Co"), "Nick & Co"),  # the admin's markup: its text
        ("<b>Nick</b>", "<b>Nick</b>"),  # a stored value: as it is
        (datetime(2026, 3, 1, 12, 30, tzinfo=UTC), "2026-03-01T12:30:00+00:00"),
    ],
)
def test_a_cell_is_plain_text_a_spreadsheet_will_not_run(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell
