"""Importing players from CSV or XLSX on the player list (accounts/admin_import.py): a dry run
shows what would change and keeps nothing; each row is held to sign-up's rules with its errors
shown per row; the confirmed import is all or nothing, recorded as a job and in one audit
record; passwords are never imported; nothing without ``accounts.import_players``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook

from accounts.models import User
from accounts.services.player_import import PLAYER_IMPORT_MAX_ROWS
from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired

pytestmark = pytest.mark.django_db

IMPORT = "/admin/accounts/user/import/"
PROCESS = "/admin/accounts/user/process_import/"
CSV_FORMAT, XLSX_FORMAT = "0", "1"


@pytest.fixture
def importer() -> tuple[Client, User]:
    return staff_with("accounts.view_user", "accounts.import_players", "casino.view_adminjob")


def csv_file(text: str, name: str = "players.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def dry_run(client: Client, upload: SimpleUploadedFile, file_format: str = CSV_FORMAT) -> Any:
    return client.post(IMPORT, {"resource": "0", "format": file_format, "import_file": upload})


def confirm(client: Client, preview: Any) -> Any:
    form = preview.context["confirm_form"]
    assert form is not None, "the dry run offered no confirmation"
    return client.post(
        PROCESS, {name: form.initial[name] for name in ("import_file_name", "original_file_name", "format", "resource")}
    )


def test_a_dry_run_shows_what_would_change_and_keeps_nothing(importer: tuple[Client, User]) -> None:
    client, _ = importer
    UserFactory(site_id="known01", nickname="Known One", phone_number="+15551110001")
    UserFactory(site_id="same01", nickname="Same One", phone_number="+15551110002")

    preview = dry_run(
        client,
        csv_file(
            "site_id,nickname,phone_number\n"
            "newbie01,Newbie One,010-1234-5678\n"
            "KNOWN01,Known Again,+15551110001\n"
            "same01,Same One,+15551110002\n"
        ),
    )

    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["new", "update", "skip"]
    page = preview.content.decode()
    assert "Confirm import" in page
    assert "01012345678" in page  # the phone number as it would be stored
    # Nothing was kept
    assert not User.objects.filter(site_id="newbie01").exists()
    assert User.objects.get(site_id="known01").nickname == "Known One"
    assert not AuditLog.objects.exists()
    assert not AdminJob.objects.exists()


def test_rows_breaking_sign_ups_rules_are_shown_with_their_errors_and_nothing_can_be_confirmed(
    importer: tuple[Client, User],
) -> None:
    client, _ = importer
    UserFactory(site_id="taken01", nickname="Taken", phone_number="+15552220001")
    UserFactory(site_id="boss01", nickname="Boss", phone_number="+15552220002", is_staff=True)

    preview = dry_run(
        client,
        csv_file(
            "site_id,nickname,phone_number\n"
            "ok01,Fine Player,+15552220010\n"
            "bad id!,Someone,+15552220011\n"  # site id characters
            "clash01,TAKEN,+15552220012\n"  # another player's nickname (letter case ignored)
            "clash02,Fine Player,+15552220013\n"  # a nickname taken by an earlier row of the file
            "phone01,Phoney,12345\n"  # too short
            "phone02,Phoney Two,+1 555 222 0001\n"  # another account's number, once normalised
            "invis01,Zero\u200bWidth,+15552220014\n"  # an invisible character
            "boss01,Boss Renamed,+15552220002\n"  # a staff account
        ),
    )

    result = preview.context["result"]
    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert errors == {
        2: {"site_id": ["3-50 letters, digits, '.', '_' or '-'."]},
        3: {"nickname": ["That nickname is already in use."]},
        4: {"nickname": ["That nickname is already in use."]},
        5: {"phone_number": ["10-15 digits, optionally starting with '+'."]},
        6: {"phone_number": ["That phone number is already in use."]},
        7: {
            "nickname": [
                "A nickname cannot contain invisible, formatting or control characters (such as zero-width "
                "spaces or text-direction marks); found U+200B."
            ]
        },
        8: {"site_id": ["A staff account is not changed by an import: use its page."]},
    }
    assert preview.context.get("confirm_form") is None
    assert "Some rows failed to validate" in preview.content.decode()
    assert not User.objects.filter(site_id="ok01").exists()


def test_the_confirmed_import_creates_and_updates_players_with_no_password_as_one_job_and_one_audit_record(
    importer: tuple[Client, User],
) -> None:
    # Given a dry run that found nothing wrong
    client, staff = importer
    known = UserFactory(site_id="known02", nickname="Old Name", phone_number="+15553330001")
    preview = dry_run(
        client,
        csv_file(
            "site_id,nickname,phone_number\nnewbie02,New Two,(010) 9999-0000\nknown02,New Name,+15553330001\n",
            name="march.csv",
        ),
    )

    # When the import is confirmed
    response = confirm(client, preview)

    # Then the new player exists, stored as sign-up would store them, and cannot log in yet
    assert response.status_code == 302
    newbie = User.objects.get(site_id="newbie02")
    assert (newbie.nickname, newbie.phone_number, newbie.nickname_skeleton) == ("New Two", "01099990000", "new two")
    assert not newbie.has_usable_password()
    assert User.objects.get(pk=known.pk).nickname == "New Name"
    # And the import is one job with its counts, and one audit record
    job = AdminJob.objects.get()
    assert (job.kind, job.status, job.created_by, job.total) == ("player_import", "done", staff, 2)
    assert (job.result["new"], job.result["update"], job.result["invalid"]) == (1, 1, 0)
    assert job.report.startswith("1 new, 1 updated, 0 unchanged (skipped), 0 invalid, 0 failed, of 2 row(s).")
    record = AuditLog.objects.get()
    assert (record.action, record.actor, record.target_id) == ("players_import", staff, "2 row(s)")
    assert record.data["file"] == "march.csv" and record.data["new"] == 1 and record.data["update"] == 1


def test_a_row_that_became_invalid_after_the_dry_run_rolls_the_whole_file_back(importer: tuple[Client, User]) -> None:
    client, _ = importer
    preview = dry_run(
        client, csv_file("site_id,nickname,phone_number\nfirst03,First,+15554440001\nsecond03,Second,+15554440002\n")
    )
    UserFactory(site_id="sneaky", nickname="Second", phone_number="+15554449999")  # took the nickname meanwhile

    response = confirm(client, preview)

    assert response.status_code == 302
    assert not User.objects.filter(site_id__in=["first03", "second03"]).exists()
    job = AdminJob.objects.get()
    assert job.status == "failed"
    assert "Nothing was imported" in job.report and "row 2: nickname" in job.report
    assert not AuditLog.objects.exists()


def test_an_xlsx_file_imports_like_a_csv(importer: tuple[Client, User]) -> None:
    client, _ = importer
    book = Workbook()
    sheet = book.active
    sheet.append(["site_id", "nickname", "phone_number"])
    sheet.append(["sheet01", "From Excel", "+15556660001"])
    content = io.BytesIO()
    book.save(content)
    upload = SimpleUploadedFile(
        "players.xlsx",
        content.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

    confirm(client, dry_run(client, upload, XLSX_FORMAT))

    assert User.objects.get(site_id="sheet01").nickname == "From Excel"


def test_a_file_over_the_row_limit_is_refused_before_any_row_is_read(importer: tuple[Client, User]) -> None:
    client, _ = importer
    rows = "".join(f"big{n:05d},Big {n:05d},+1557{n:07d}\n" for n in range(PLAYER_IMPORT_MAX_ROWS + 1))

    preview = dry_run(client, csv_file("site_id,nickname,phone_number\n" + rows))

    result = preview.context["result"]
    assert result.has_errors()
    assert f"an import takes at most {PLAYER_IMPORT_MAX_ROWS}" in str(result.base_errors[0].error)
    assert preview.context.get("confirm_form") is None
    assert not User.objects.filter(site_id__startswith="big").exists()


def test_staff_without_the_permission_see_no_import_and_cannot_run_one() -> None:
    support, _ = staff_with("accounts.view_user", "accounts.ban_user")

    listing = support.get("/admin/accounts/user/").content.decode()
    refused = dry_run(support, csv_file("site_id,nickname,phone_number\nsneak01,Sneak,+15557770001\n"))
    forged = support.post(PROCESS, {"import_file_name": "x", "original_file_name": "x.csv", "format": "0"})

    assert IMPORT not in listing
    assert support.get(IMPORT).status_code == 403
    assert refused.status_code == 403
    assert forged.status_code == 403
    assert not User.objects.filter(site_id="sneak01").exists()
    assert not AuditLog.objects.exists()


def test_the_import_service_itself_refuses_an_actor_without_the_permission() -> None:
    from tablib import Dataset

    from accounts.admin_import import PlayerResource

    _, viewer = staff_with("accounts.view_user")
    dataset = Dataset(headers=["site_id", "nickname", "phone_number"])
    dataset.append(["direct01", "Direct", "+15558880001"])

    result = PlayerResource().import_data(dataset, dry_run=False, user=viewer)

    assert result.has_errors()
    assert isinstance(result.base_errors[0].error, StaffPermissionRequired)
    assert not User.objects.filter(site_id="direct01").exists()
    assert not AuditLog.objects.exists()
