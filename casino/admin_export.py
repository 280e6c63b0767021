"""Export any changelist as CSV: a site-wide admin action (``admin.site.add_action`` in
``casino/admin.py``) writing the selected rows -- or, with "select all", the whole filtered
changelist -- with the columns of its ``list_display``.

Personal data leaves the system only for staff holding ``casino.export_data`` (the action is
neither offered nor run without it, and the changelist itself needs the model's view
permission), and every export leaves an audit record: who exported which list, with which
filters, how many rows.

The response streams (``StreamingHttpResponse``, the rows read in chunks of
:data:`CHUNK_SIZE`), so a list of 100,000 players is never held in memory. Cells are plain
text: the HTML of computed columns (links, badges) becomes its text, booleans are ``yes``/``no``,
datetimes ISO 8601. A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return (what a spreadsheet runs as a formula; a nickname is the player's own text) is
prefixed with ``'``, except a plain number.
"""

from __future__ import annotations

import csv
import datetime
import html
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import label_for_field, lookup_field
from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.safestring import SafeData
from django.utils.text import capfirst

from casino.admin_tools import staff_action, staff_member
from casino.permissions import staff_permission_require
from casino.services import audit_record

EXPORT_PERMISSION = "casino.export_data"
CHUNK_SIZE = 2000
AUDITED_SELECTION = 100  # at most this many selected ids kept in the audit record
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


class _Echo:
    """A file-like object whose ``write`` hands back what it was given (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """A value as one safe CSV cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    # Markup the admin made (format_html: links, badges) becomes its text; a stored value stays as it is.
    text = html.unescape(strip_tags(str(value))).strip() if isinstance(value, SafeData) else str(value).strip()
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return f"'{text}"
    return text


# A list_display entry: a field or method name, or a callable taking the object.
Column = str | Callable[[Any], Any]


def export_columns(modeladmin: admin.ModelAdmin[Any], request: HttpRequest) -> list[Column]:
    return [name for name in modeladmin.get_list_display(request) if name != "action_checkbox"]


def column_name(column: Column) -> str:
    return column if isinstance(column, str) else getattr(column, "__name__", repr(column))


def _cell(name: Column, obj: models.Model, modeladmin: admin.ModelAdmin[Any]) -> str:
    try:
        field, _attr, value = lookup_field(name, obj, modeladmin)
    except ObjectDoesNotExist:
        return ""
    if field is not None and getattr(field, "choices", None) and not getattr(field, "auto_created", False):
        display = getattr(obj, f"get_{field.name}_display", None)
        if callable(display):
            value = display()
    return csv_cell(value)


def csv_rows(modeladmin: admin.ModelAdmin[Any], columns: list[Column], queryset: QuerySet[Any]) -> Iterator[str]:
    """The header line (the list's column titles), then one line per row, read in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [csv_cell(capfirst(str(label_for_field(name, modeladmin.model, modeladmin)))) for name in columns]
    )
    for obj in queryset.iterator(chunk_size=CHUNK_SIZE):
        yield writer.writerow([_cell(name, obj, modeladmin) for name in columns])


def export_audit(
    *, request: HttpRequest, modeladmin: admin.ModelAdmin[Any], columns: list[Column], queryset: QuerySet[Any]
) -> int:
    """Check the permission again and record the export (before any row leaves); returns the row count."""
    actor = staff_member(request)
    staff_permission_require(actor=actor, permission=EXPORT_PERMISSION)
    whole_list = request.POST.get("select_across") == "1"
    selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    with transaction.atomic(durable=True):
        rows = queryset.count()
        audit_record(
            actor=actor,
            action="changelist_export",
            target_type=modeladmin.model._meta.label_lower,
            target_id=f"{rows} row(s)",
            reason="CSV export from the back office",
            data={
                "rows": rows,
                "columns": [column_name(column) for column in columns],
                "filters": request.GET.urlencode(),
                "whole_list": whole_list,
                "selected": [] if whole_list else selected[:AUDITED_SELECTION],
            },
        )
    return rows


@staff_action(permission=EXPORT_PERMISSION, description="Export selected rows as CSV")
def export_as_csv(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> StreamingHttpResponse:
    columns = export_columns(modeladmin, request)
    export_audit(request=request, modeladmin=modeladmin, columns=columns, queryset=queryset)
    opts = modeladmin.model._meta
    filename = f"{opts.app_label}-{opts.model_name}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(csv_rows(modeladmin, columns, queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
