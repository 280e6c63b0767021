"""Importing players from a CSV or XLSX file on the player list (django-import-export), for
staff holding ``accounts.import_players``.

Columns: ``site_id`` (required: it says which account a row is), ``nickname``,
``phone_number``. Passwords are never imported: a new player gets an unusable password and
sets one through a password-set link. The rules of each row are sign-up's
(``accounts.services.player_import``), reported per row and field.

The flow is import-export's: upload, then a **dry run** that shows, row by row, what would be
new, updated, skipped (unchanged) or invalid -- nothing is kept -- and, when every row is
valid, "Confirm import", which imports the same file for real in one transaction: every row
or none (a row that became invalid since the dry run rolls the whole file back and the job's
report says why).

The confirmed import is recorded as a back-office job (``casino.jobs``, kind
``player_import``: its counts and report on the jobs page) and leaves one audit record with
the counts. It runs in the request, synchronously, so a file holds at most
:data:`~accounts.services.player_import.PLAYER_IMPORT_MAX_ROWS` rows (a larger one is
refused before any row is read; split it).

Wired into the player admin (``accounts/admin.py``) as a base class, :class:`PlayerImportMixin`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from import_export import resources  # type: ignore[import-untyped]
from import_export.admin import ImportMixin  # type: ignore[import-untyped]
from import_export.formats.base_formats import CSV, XLSX  # type: ignore[import-untyped]
from import_export.results import Result, RowResult  # type: ignore[import-untyped]
from import_export.tmp_storages import CacheStorage  # type: ignore[import-untyped]

from accounts.authentication import request_staff
from accounts.models import User
from accounts.services.player_import import (
    IMPORTED_FIELDS,
    PLAYER_IMPORT_MAX_ROWS,
    player_import_allowed,
    player_import_check,
    player_import_save,
    players_import_record,
)
from accounts.services.staff import IMPORT_PLAYERS
from casino.admin_tools import request_holds, staff_view
from casino.jobs import JobKind, job_create, job_finish, job_start, register_job_kind
from casino.permissions import StaffPermissionRequired

JOB_KIND = "player_import"
REPORTED_ERRORS = 50
_ORIGINAL = "_import_original"  # the account's values before the row, kept on the instance


class PlayerResource(resources.ModelResource):  # type: ignore[misc]  # untyped package
    class Meta:
        model = User
        fields = IMPORTED_FIELDS
        import_id_fields = ("site_id",)
        skip_unchanged = True
        report_skipped = True
        # The rules are sign-up's (player_import_check), not the model's full_clean.
        clean_model_instances = False
        use_transactions = True

    def import_data(self, dataset: Any, *args: Any, **kwargs: Any) -> Result:
        """Refuse the whole file before any row is read (import-export's ``before_import`` would
        report the error and still go through every row): an actor without
        ``accounts.import_players``, or more than the row limit."""
        try:
            player_import_allowed(actor=kwargs.get("user"))
            if len(dataset) > PLAYER_IMPORT_MAX_ROWS:
                raise ValueError(
                    f"The file has {len(dataset)} rows; an import takes at most {PLAYER_IMPORT_MAX_ROWS}: split it."
                )
        except (StaffPermissionRequired, ValueError) as refusal:
            result: Result = self.get_result_class()()
            result.total_rows = len(dataset)
            result.append_base_error(self.get_error_result_class()(refusal))
            return result
        imported: Result = super().import_data(dataset, *args, **kwargs)
        return imported

    def get_instance(self, instance_loader: Any, row: Any) -> User | None:
        """The account a row names: its ``site_id``, letter case ignored (as logins are)."""
        site_id = str(row.get("site_id") or "").strip()
        return User.objects.filter(site_id__iexact=site_id).first() if site_id else None

    def import_instance(self, instance: User, row: Any, **kwargs: Any) -> None:
        original = None if instance.pk is None else {field: getattr(instance, field) for field in IMPORTED_FIELDS}
        for field in IMPORTED_FIELDS:  # an empty cell is "", never None
            if row.get(field) is None and field in row:
                row[field] = ""
        super().import_instance(instance, row, **kwargs)
        if original is not None and str(instance.site_id).strip().lower() == str(original["site_id"]).lower():
            instance.site_id = original["site_id"]  # the row found the account: its login stays as it is
        errors = player_import_check(user=instance, original=original)
        setattr(instance, _ORIGINAL, original)
        if errors:
            raise ValidationError(errors)

    def do_instance_save(self, instance: User, is_create: bool) -> None:
        player_import_save(user=instance, original=getattr(instance, _ORIGINAL, None))

    def after_import(self, dataset: Any, result: Result, **kwargs: Any) -> None:
        if kwargs.get("dry_run", True) or result.has_errors() or result.has_validation_errors():
            return
        players_import_record(
            actor=kwargs["user"], file_name=str(kwargs.get("file_name") or ""), totals=result.totals, rows=len(dataset)
        )


def import_report(result: Result) -> str:
    """The job's report: the counts, then the rows that failed (at most :data:`REPORTED_ERRORS`)."""
    totals = result.totals
    lines = [
        f"{totals[RowResult.IMPORT_TYPE_NEW]} new, {totals[RowResult.IMPORT_TYPE_UPDATE]} updated, "
        f"{totals[RowResult.IMPORT_TYPE_SKIP]} unchanged (skipped), {totals[RowResult.IMPORT_TYPE_INVALID]} invalid, "
        f"{totals[RowResult.IMPORT_TYPE_ERROR]} failed, of {result.total_rows} row(s)."
    ]
    if result.has_errors() or result.has_validation_errors():
        lines.append("Nothing was imported (the whole file rolls back).")
    for error in result.base_errors[:REPORTED_ERRORS]:
        lines.append(f"  file: {error.error}")
    for row in result.invalid_rows[:REPORTED_ERRORS]:
        problems = "; ".join(f"{field}: {' '.join(map(str, found))}" for field, found in row.error_dict.items())
        lines.append(f"  row {row.number}: {problems}")
    for failed in result.error_rows[:REPORTED_ERRORS]:
        lines.append(f"  row {failed.number}: {'; '.join(str(error.error) for error in failed.errors)}")
    return "\n".join(lines)


class PlayerImportMixin(ImportMixin):  # type: ignore[misc]  # untyped package
    """The player list's "Import" (dry run, then confirm), for ``accounts.import_players``."""

    resource_classes = [PlayerResource]
    import_formats = [CSV, XLSX]
    # The uploaded file waits for "Confirm import" in the cache (Redis in full mode), not in one
    # web server's /tmp: the confirming request may reach another process or machine.
    tmp_storage_class = CacheStorage
    skip_admin_log = True  # one audit record per import instead (casino.AuditLog)
    import_error_display = ("message",)

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request_holds(request, IMPORT_PLAYERS)

    @staff_view(permission=IMPORT_PLAYERS)
    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().import_action(request, **kwargs)
        return response

    @staff_view(permission=IMPORT_PLAYERS)
    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().process_import(request, **kwargs)
        return response

    def process_dataset(self, dataset: Any, form: Any, request: HttpRequest, **kwargs: Any) -> Result:
        """The confirmed import (the dry run does not come here), recorded as a job; a row
        invalid now rolls the whole file back."""
        file_name = str(kwargs.get("file_name") or form.cleaned_data.get("original_file_name") or "")
        job = job_create(
            kind=JOB_KIND,
            actor=request_staff(request),
            title=f"Player import: {file_name}",
            params={"file": file_name},
            total=len(dataset),
        )
        job_start(job_id=job.pk)
        try:
            result: Result = super().process_dataset(
                dataset, form, request, rollback_on_validation_errors=True, **kwargs
            )
        except Exception as exc:
            job_finish(job_id=job.pk, result={}, report=f"Failed: {exc}", failed=True)
            raise
        failed = result.has_errors() or result.has_validation_errors()
        job_finish(
            job_id=job.pk,
            result={str(key): int(value) for key, value in result.totals.items()},
            report=import_report(result),
            errors=result.totals[RowResult.IMPORT_TYPE_INVALID] + result.totals[RowResult.IMPORT_TYPE_ERROR],
            failed=failed,
        )
        request.player_import_job = job  # type: ignore[attr-defined]  # read by process_result
        return result

    def process_result(self, result: Result, request: HttpRequest) -> HttpResponse:
        job = getattr(request, "player_import_job", None)
        job_page = reverse("admin:casino_adminjob_change", args=[job.pk]) if job is not None else ""
        if result.has_errors() or result.has_validation_errors():
            messages.error(request, "Nothing was imported: some rows are not valid any more. See the job's report.")
            return HttpResponseRedirect(job_page or reverse("admin:accounts_user_import"))
        response: HttpResponse = super().process_result(result, request)
        if job is not None:
            messages.info(request, f"Recorded as job #{job.pk}.")
        return response


# The jobs page shows import jobs to the staff who may import (casino.jobs; no runner: an import
# runs in its request).
register_job_kind(JobKind(name=JOB_KIND, label="Player import", permission=IMPORT_PLAYERS))
