"""All-or-nothing CSV import: validate every row, then write them all in one savepoint or none.

An importer declares its columns, a per-row form (or a ``clean_row`` hook) and ``create``, which
calls a service. ``run_import`` checks the file (UTF-8, size, row count, header), validates every
row and reports every problem as (spreadsheet row, column, message) with the header as row 1.
Only when no row has a problem are the rows created, inside one ``transaction.atomic`` savepoint;
a service that refuses a row at that point rolls the whole file back and the refusal is reported
as that row's error. Nothing is ever half-imported.

Declaring an importer::

    class MsoEntityRow(forms.Form):
        legal_name = forms.CharField(max_length=200)
        state = forms.CharField(max_length=2, required=False)

    class MsoEntityImporter(Importer):
        name = "MSO entities"
        columns = (
            Column("legal_name", example="Glow Holdings LLC"),
            Column("state", required=False, example="CA", help="Two-letter code; CA when blank."),
        )
        form_class = MsoEntityRow
        unique_columns = ("legal_name",)

        def create(self, ctx, cleaned):
            mso_entity_create(ctx=ctx, **{k: v for k, v in cleaned.items() if v})

    result = run_import(MsoEntityImporter(), request.access, request.FILES["file"])

Call it inside the caller's activated transaction (request, ``run_as`` task): the services run
under ctx's role and tenant like any other write. Construct one importer per run, like a form:
``prepare`` may keep per-run lookups on the instance.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction

from tenants import audit
from tenants.access import AccessContext

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000

# Spreadsheets run a cell starting with one of these as a formula (CSV/formula injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@")
# Signed numbers are the legitimate cells that start with + or -.
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# International phone numbers start with +; digits, spaces, dots, dashes and parentheses only.
PHONE = re.compile(r"\+[\d][\d ().-]{5,30}")

_EXCEL_SAVE_AS = "In Excel use File → Save As → “CSV UTF-8 (Comma delimited)”."


@dataclass(frozen=True)
class Column:
    """One column of an import file.

    ``name`` is the header as written in the template (lower case, underscores); headers in an
    uploaded file match it ignoring case, surrounding spaces, and spaces or dashes for
    underscores ("Legal Name" is ``legal_name``). A cell starting with = + - @ is refused unless
    it fully matches ``sign_pattern`` (``numeric=True`` means ``NUMBER``; a column whose form
    field is numeric is numeric without saying so).
    """

    name: str
    required: bool = True
    example: str = ""
    help: str = ""
    numeric: bool = False
    sign_pattern: re.Pattern[str] | None = None

    @property
    def allowed_signed(self) -> re.Pattern[str] | None:
        return self.sign_pattern or (NUMBER if self.numeric else None)


@dataclass(frozen=True)
class RowError:
    """A problem with the file: row as the spreadsheet numbers it (header = 1; None: whole file)."""

    row: int | None
    column: str
    message: str


@dataclass
class ImportResult:
    ok: bool
    created: int
    errors: list[RowError] = field(default_factory=list)
    rows_seen: int = 0  # data rows in the file, blank lines not counted

    @property
    def rows_with_errors(self) -> int:
        return len({e.row for e in self.errors if e.row is not None})


def normalize_header(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip()).lower()


class Importer:
    """Declare a CSV import; see the module docstring for an example.

    Subclasses set ``name``, ``columns``, either ``form_class`` (a Form whose fields are named
    like the columns; blank cells arrive as "") or an overridden ``clean_row``, and ``create``.
    ``unique_columns`` lists keys that may appear once per file: a column name or a tuple of
    names (compared trimmed and case-insensitively; rows with a blank key are not compared).
    Duplicates against records already saved are the form's or the service's to refuse.
    """

    name: ClassVar[str] = ""
    columns: ClassVar[tuple[Column, ...]] = ()
    form_class: ClassVar[type[forms.Form] | None] = None
    unique_columns: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    max_bytes: ClassVar[int] = MAX_BYTES
    max_rows: ClassVar[int] = MAX_ROWS
    audit_action: ClassVar[str] = "csv_import"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.columns:
            _check_declaration(cls)

    def prepare(self, ctx: AccessContext) -> None:
        """Hook run once per run before any row is cleaned (load lookups the rows refer to)."""

    def clean_row(self, ctx: AccessContext, row: dict[str, str]) -> dict[str, Any]:
        """Turn one row's trimmed cells (by column name) into the keyword arguments of ``create``.

        Raise ValidationError (keyed by column name where the problem is one cell's) to refuse.
        """
        if self.form_class is None:
            raise ImproperlyConfigured(f"{type(self).__name__} needs form_class or its own clean_row().")
        form = self.form_class(data=row)
        if not form.is_valid():
            raise ValidationError(form.errors.as_data())
        return dict(form.cleaned_data)

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> object:
        """Write one cleaned row through a service; a ValidationError refuses the row."""
        raise NotImplementedError

    @classmethod
    def template_csv(cls) -> str:
        """Header line and one example row, for a "download the template" link.

        Serve it encoded as utf-8-sig so Excel opens accented names correctly.
        """
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.name for c in cls.columns])
        if any(c.example for c in cls.columns):
            writer.writerow([c.example for c in cls.columns])
        return out.getvalue()

    @classmethod
    def numeric_columns(cls) -> frozenset[str]:
        fields = cls.form_class.base_fields if cls.form_class else {}
        # DecimalField and FloatField subclass IntegerField.
        return frozenset(
            c.name for c in cls.columns if c.numeric or isinstance(fields.get(c.name), forms.IntegerField)
        )


def _check_declaration(cls: type[Importer]) -> None:
    """Catch a mistyped declaration when the module is imported, not when a user uploads a file."""
    names = [c.name for c in cls.columns]
    problems = [f"column {n!r} is not normalized" for n in names if n != normalize_header(n)]
    problems += [f"column {n!r} is declared twice" for n in set(names) if names.count(n) > 1]
    for key in cls.unique_columns:
        parts = (key,) if isinstance(key, str) else key
        problems += [f"unique column {p!r} is not a column" for p in parts if p not in names]
    if cls.form_class is not None:
        problems += [
            f"form field {f!r} is not a column" for f in cls.form_class.base_fields if f not in names
        ]
    signed = _signed_patterns(cls)
    for c in cls.columns:
        if _formula_like(c.example, signed.get(c.name)):
            problems.append(f"example of {c.name!r} would be refused as a formula")
    if problems:
        raise ImproperlyConfigured(f"{cls.__name__}: " + "; ".join(problems))


def _signed_patterns(cls: type[Importer]) -> dict[str, re.Pattern[str]]:
    """Column name → the pattern a cell starting with + or - (etc.) must match to be accepted."""
    numeric = cls.numeric_columns()
    patterns = {c.name: c.allowed_signed or (NUMBER if c.name in numeric else None) for c in cls.columns}
    return {name: p for name, p in patterns.items() if p is not None}


def _formula_like(value: str, allowed: re.Pattern[str] | None) -> bool:
    return value.startswith(FORMULA_PREFIXES) and not (allowed and allowed.fullmatch(value))


def column_letter(index: int) -> str:
    """Spreadsheet letters of a 0-based column index: 0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _fail(errors: Iterable[RowError], rows_seen: int = 0) -> ImportResult:
    return ImportResult(ok=False, created=0, errors=list(errors), rows_seen=rows_seen)


def _file_error(message: str) -> ImportResult:
    return _fail([RowError(None, "", message)])


def _read(data: bytes | IO[bytes], limit: int) -> bytes:
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if hasattr(data, "seek"):
        data.seek(0)
    # One byte past the limit is enough to know the file is too large without reading all of it.
    raw = data.read(limit + 1)
    if not isinstance(raw, bytes):
        raise TypeError("run_import() needs bytes or a file opened in binary mode.")
    return raw


def _decode(raw: bytes) -> str | RowError:
    if raw.startswith(b"PK\x03\x04"):
        return RowError(None, "", f"This is an Excel workbook, not a CSV file. {_EXCEL_SAVE_AS}")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        # UTF-16 text of a Latin alphabet is half NUL bytes; NUL is never part of a CSV cell.
        return RowError(
            None, "", f"The file contains NUL bytes (UTF-16 or binary), not UTF-8 text. {_EXCEL_SAVE_AS}"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # exc.object, not raw: after a BOM the decoder counts from the byte after it.
        row = exc.object[: exc.start].count(b"\n") + 1
        return RowError(
            row,
            "",
            f"The file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} in row {row}); it was probably "
            f"saved as Latin-1/Windows-1252. {_EXCEL_SAVE_AS}",
        )


def _parse(text: str) -> list[list[str]] | RowError:
    # Records, not lines: a quoted cell spanning lines is still one spreadsheet row.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as exc:
        return RowError(len(records) + 1, "", f"The row cannot be read as CSV ({exc}). Check its quotes.")
    return records


def _blank(record: Sequence[str]) -> bool:
    return all(not cell.strip() for cell in record)


@dataclass
class _Header:
    width: int
    positions: dict[str, int] = field(default_factory=dict)  # column name → 0-based position
    labels: dict[str, str] = field(default_factory=dict)  # column name → header as the user wrote it
    unnamed: set[int] = field(default_factory=set)  # blank header cells: the cells below must stay blank

    def label(self, name: str) -> str:
        """How the user's file names a column (errors point at the header they see)."""
        return self.labels.get(name, name)


def _read_header(importer: Importer, number: int, header: list[str]) -> _Header | list[RowError]:
    known = {c.name for c in importer.columns}
    expected = ", ".join(c.name for c in importer.columns)
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        sep = "semicolons" if ";" in header[0] else "tabs"
        return [
            RowError(
                number, "", f"The file is separated by {sep}; it must be comma separated. {_EXCEL_SAVE_AS}"
            )
        ]
    errors: list[RowError] = []
    result = _Header(width=len(header))
    for i, text in enumerate(header):
        name = normalize_header(text)
        if not name:
            result.unnamed.add(i)
        elif name not in known:
            errors.append(RowError(number, text.strip(), f"Unknown column. The columns are: {expected}."))
        elif name in result.positions:
            first = column_letter(result.positions[name])
            errors.append(RowError(number, text.strip(), f"The column appears twice (also column {first})."))
        else:
            result.positions[name] = i
            result.labels[name] = text.strip()
    for column in importer.columns:
        if column.required and column.name not in result.positions:
            errors.append(RowError(number, column.name, "Required column is missing from the header row."))
    return errors or result


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs of a ValidationError; "" where it is not about one field."""
    if hasattr(exc, "error_dict"):
        return [
            ("" if name == NON_FIELD_ERRORS else name, message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [("", message) for message in exc.messages]


def _formula_errors(row: Mapping[str, str], signed: Mapping[str, re.Pattern[str]]) -> dict[str, str]:
    return {
        name: f"Starts with “{value[0]}”, which a spreadsheet would run as a formula. "
        "Remove the leading character."
        for name, value in row.items()
        if _formula_like(value, signed.get(name))
    }


def run_import(importer: Importer, ctx: AccessContext, data: bytes | IO[bytes]) -> ImportResult:
    """Validate the whole file, then create every row in one savepoint, or nothing at all."""
    raw = _read(data, importer.max_bytes)
    if len(raw) > importer.max_bytes:
        limit_mb = importer.max_bytes / (1024 * 1024)
        return _file_error(
            f"The file is larger than {limit_mb:g} MB, the limit for one import. Split it into smaller files."
        )
    text = _decode(raw)
    if isinstance(text, RowError):
        return _fail([text])
    records = _parse(text)
    if isinstance(records, RowError):
        return _fail([records])

    # Blank lines are skipped (before the header too) but keep their numbers, as in the spreadsheet.
    numbered = [(n, rec) for n, rec in enumerate(records, start=1) if not _blank(rec)]
    if not numbered:
        return _file_error("The file is empty.")
    header_row, header_cells = numbered[0]
    data_rows = numbered[1:]
    if len(data_rows) > importer.max_rows:
        return _fail(
            [
                RowError(
                    None,
                    "",
                    f"The file has {len(data_rows)} rows; one import takes at most {importer.max_rows}. "
                    "Split it into smaller files.",
                )
            ],
            rows_seen=len(data_rows),
        )
    header = _read_header(importer, header_row, header_cells)
    if isinstance(header, list):
        return _fail(header, rows_seen=len(data_rows))
    if not data_rows:
        return _file_error("The file has a header row but no data rows.")

    importer.prepare(ctx)
    errors, valid = _validate(importer, ctx, header, data_rows)
    if not errors:
        errors = _write(importer, ctx, header, valid)
    if errors:
        return _fail(errors, rows_seen=len(data_rows))
    return ImportResult(ok=True, created=len(valid), errors=[], rows_seen=len(data_rows))


def _validate(
    importer: Importer, ctx: AccessContext, header: _Header, data_rows: list[tuple[int, list[str]]]
) -> tuple[list[RowError], list[tuple[int, dict[str, Any]]]]:
    """Every row's problems, and the cleaned rows (all of them when there is no problem)."""
    signed = _signed_patterns(type(importer))
    errors: list[RowError] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    seen_keys: dict[tuple[str | tuple[str, ...], tuple[str, ...]], int] = {}
    for number, record in data_rows:
        row_errors = [
            RowError(number, f"column {column_letter(i)}", "A value under a column with no header.")
            for i, cell in enumerate(record)
            if (i in header.unnamed or i >= header.width) and cell.strip()
        ]
        row = {c.name: "" for c in importer.columns}
        row.update({name: record[i].strip() for name, i in header.positions.items() if i < len(record)})

        unsafe = _formula_errors(row, signed)
        row_errors += [RowError(number, header.label(name), message) for name, message in unsafe.items()]

        for key in importer.unique_columns:
            parts = (key,) if isinstance(key, str) else key
            values = tuple(" ".join(row[p].split()).casefold() for p in parts)
            if not any(values):
                continue
            first = seen_keys.setdefault((key, values), number)
            if first != number:
                row_errors.append(
                    RowError(
                        number,
                        header.label(parts[0]),
                        f"Same {' + '.join(header.label(p) for p in parts)} as row {first}; "
                        "each may appear once per file.",
                    )
                )

        try:
            cleaned = importer.clean_row(ctx, row)
        except ValidationError as exc:
            row_errors += [
                RowError(number, header.label(name), message)
                for name, message in _messages(exc)
                if name not in unsafe  # already refused as a formula: one message a cell
            ]
        else:
            if not row_errors:
                valid.append((number, cleaned))
        errors += row_errors
    return errors, valid


def _write(
    importer: Importer, ctx: AccessContext, header: _Header, valid: list[tuple[int, dict[str, Any]]]
) -> list[RowError]:
    """Create every row in one savepoint; on any refusal roll all of them back and say why."""
    errors: list[RowError] = []
    with transaction.atomic():
        for number, cleaned in valid:
            try:
                # A savepoint a row: a refused row leaves nothing behind and the transaction stays
                # usable, so later rows still run and one upload reports every refusal.
                with transaction.atomic():
                    importer.create(ctx, cleaned)
            except ValidationError as exc:
                errors += [RowError(number, header.label(name), message) for name, message in _messages(exc)]
            except IntegrityError:
                errors.append(RowError(number, "", "This row conflicts with a record that already exists."))
        if errors:
            transaction.set_rollback(True)
        else:
            audit.record(ctx, importer.audit_action, detail={"importer": importer.name, "rows": len(valid)})
    return errors
