"""The CSV import engine, driven by an MSO-entity importer declared here (real services, real database)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import pytest
from django import forms
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string

from management.models import MsoEntity
from management.services import mso_entity_create
from tenants.access import AccessContext
from tenants.imports import (
    MAX_BYTES,
    MAX_ROWS,
    PHONE,
    Column,
    Importer,
    ImportResult,
    RowError,
    column_letter,
    run_import,
)
from tenants.models import AuditLogEntry
from tests.worlds import World

ActAs = Callable[[AccessContext], AbstractContextManager[None]]

pytestmark = pytest.mark.django_db


class MsoEntityRow(forms.Form):
    legal_name = forms.CharField(max_length=200)
    # Loose on purpose: the service's own state check is what the write-phase tests exercise.
    state = forms.CharField(max_length=2, required=False)
    entity_type = forms.CharField(max_length=40, required=False)


class MsoEntityImporter(Importer):
    name = "MSO entities"
    columns = (
        Column("legal_name", example="Glow Holdings LLC", help="As registered with the Secretary of State."),
        Column("state", required=False, example="CA", help="Two-letter code; CA when blank."),
        Column("entity_type", required=False, example="LLC"),
    )
    form_class = MsoEntityRow
    # Annotated so that test subclasses may set a composite key.
    unique_columns: ClassVar[tuple[str | tuple[str, ...], ...]] = ("legal_name",)

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> MsoEntity:
        # Blank optional cells leave the service's defaults in place.
        return mso_entity_create(ctx=ctx, **{k: v for k, v in cleaned.items() if v})


class CountingImporter(MsoEntityImporter):
    """Notes how many entities the tenant holds after each write, to prove rows were written."""

    def __init__(self) -> None:
        self.counts_after_write: list[int] = []

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> MsoEntity:
        entity = super().create(ctx, cleaned)
        self.counts_after_write.append(MsoEntity.objects.filter(tenant=ctx.tenant).count())
        return entity


class ClashingImporter(MsoEntityImporter):
    """Inserts "Clash LLC" under a primary key already taken: the database itself refuses that row."""

    def __init__(self, taken_pk: Any) -> None:
        self.taken_pk = taken_pk

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> MsoEntity:
        if cleaned["legal_name"] != "Clash LLC":
            return super().create(ctx, cleaned)
        entity = MsoEntity(pk=self.taken_pk, tenant=ctx.tenant, legal_name="Clash LLC")
        entity.save(force_insert=True)
        return entity


class SignedCellsRow(forms.Form):
    legal_name = forms.CharField(max_length=200)
    adjustment = forms.DecimalField(required=False)
    phone = forms.CharField(required=False)


class SignedCellsImporter(Importer):
    """A numeric column and a phone column: the cells that may legitimately start with - or +."""

    name = "Signed cells"
    columns = (
        Column("legal_name"),
        Column("adjustment", required=False),  # numeric because its form field is
        Column("phone", required=False, sign_pattern=PHONE),
    )
    form_class = SignedCellsRow

    def create(self, ctx: AccessContext, cleaned: dict[str, Any]) -> MsoEntity:
        return mso_entity_create(
            ctx=ctx, legal_name=cleaned["legal_name"], entity_type=cleaned["phone"] or "LLC"
        )


def entity_count(world: World) -> int:
    return MsoEntity.objects.filter(tenant=world.tenant).count()


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def do_import(
    as_ctx: ActAs, world: World, data: Any, importer: Importer | None = None, capacity: str = "mso_admin"
) -> ImportResult:
    ctx = world.ctx(capacity)
    with as_ctx(ctx):
        return run_import(importer or MsoEntityImporter(), ctx, data)


def test_a_valid_file_creates_every_row_and_is_audited(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    data = csv_bytes(
        " Legal Name ,STATE,Entity-Type",  # headers match ignoring case, spaces and dashes
        "Glow Holdings LLC,ca,LLC",
        '"Radiance, Inc.",nv,Corporation',
        "  Aura Management  ,,",  # blank optional cells: the service's defaults
    )
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created, result.rows_seen, result.errors) == (True, 3, 3, [])
    assert entity_count(world_a) == before + 3
    saved = {
        e.legal_name: (e.state, e.entity_type)
        for e in MsoEntity.objects.filter(tenant=world_a.tenant).exclude(pk=world_a.entity.pk)
    }
    assert saved == {
        "Glow Holdings LLC": ("CA", "LLC"),
        "Radiance, Inc.": ("NV", "Corporation"),
        "Aura Management": ("CA", "LLC"),
    }
    entry = AuditLogEntry.objects.filter(tenant=world_a.tenant, action="csv_import").get()
    assert entry.detail == {"importer": "MSO entities", "rows": 3}


def test_an_uploaded_file_object_is_read_like_bytes(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    upload = SimpleUploadedFile("entities.csv", csv_bytes("legal_name", "Upload LLC"), "text/csv")
    upload.read(5)  # a form or a virus scan may have read it already: the engine starts over
    result = do_import(as_ctx, world_a, upload)
    assert (result.ok, result.created) == (True, 1)
    assert entity_count(world_a) == before + 1


def test_one_bad_row_among_ten_creates_nothing_and_names_row_and_column(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    rows = [f"Entity {i} LLC,CA,LLC" for i in range(10)]
    rows[5] = ",CA,LLC"  # 6th data row = spreadsheet row 7: legal name missing
    result = do_import(as_ctx, world_a, csv_bytes("legal_name,state,entity_type", *rows))
    assert (result.ok, result.created, result.rows_seen) == (False, 0, 10)
    assert result.errors == [RowError(7, "legal_name", "This field is required.")]
    assert entity_count(world_a) == before


def test_every_bad_row_is_reported_with_the_users_header_spelling(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    data = csv_bytes(
        "Legal Name,State",
        "Fine LLC,CA",
        "Too Long State LLC,CAL",
        "," + "x",
        "X" * 201 + ",CA",
    )
    result = do_import(as_ctx, world_a, data)
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [(3, "State"), (4, "Legal Name"), (5, "Legal Name")]
    assert "at most 2 characters" in result.errors[0].message
    assert result.rows_with_errors == 3
    assert entity_count(world_a) == before


def test_blank_lines_are_skipped_and_rows_keep_their_spreadsheet_numbers(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    data = csv_bytes(
        "legal_name,entity_type",
        "",
        '"Two\nLine LLC",LLC',  # one spreadsheet row although two lines of text
        ",",
        ",LLC",  # spreadsheet row 5
    )
    result = do_import(as_ctx, world_a, data)
    assert result.rows_seen == 2
    assert result.errors == [RowError(5, "legal_name", "This field is required.")]
    assert entity_count(world_a) == before
    fixed = do_import(as_ctx, world_a, csv_bytes("legal_name,entity_type", "", '"Two\nLine LLC",LLC', ","))
    assert (fixed.ok, fixed.created, fixed.rows_seen) == (True, 1, 1)
    assert entity_count(world_a) == before + 1


def test_missing_unknown_and_repeated_header_columns(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    result = do_import(as_ctx, world_a, csv_bytes("State,Entity Typ,state", "CA,LLC,CA"))
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [(1, "Entity Typ"), (1, "state"), (1, "legal_name")]
    assert "Unknown column" in result.errors[0].message
    assert "legal_name, state, entity_type" in result.errors[0].message
    assert "twice (also column A)" in result.errors[1].message
    assert "Required column is missing" in result.errors[2].message
    assert entity_count(world_a) == before


def test_optional_columns_may_be_left_out(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    result = do_import(as_ctx, world_a, csv_bytes("legal_name", "Only Name LLC"))
    assert (result.ok, result.created) == (True, 1)
    assert MsoEntity.objects.get(tenant=world_a.tenant, legal_name="Only Name LLC").state == "CA"
    assert entity_count(world_a) == before + 1


def test_cells_outside_the_header_are_refused(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    # Excel leaves empty header cells after the last column: harmless while the cells below are blank.
    result = do_import(
        as_ctx, world_a, csv_bytes("legal_name,state,", "A LLC,CA,", "B LLC,CA,stray", "C LLC,CA,,x")
    )
    assert [(e.row, e.column) for e in result.errors] == [(3, "column C"), (4, "column D")]
    assert entity_count(world_a) == before


def test_a_byte_order_mark_is_accepted(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    data = csv_bytes("legal_name,state", "Café Lumière LLC,CA", encoding="utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created) == (True, 1)
    assert MsoEntity.objects.filter(tenant=world_a.tenant, legal_name="Café Lumière LLC").exists()
    assert entity_count(world_a) == before + 1


def test_latin_1_bytes_are_refused_with_the_row(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    data = csv_bytes("legal_name", "Plain LLC", "Café LLC", encoding="latin-1")
    result = do_import(as_ctx, world_a, data)
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [(3, "")]
    assert "not UTF-8" in result.errors[0].message
    assert "CSV UTF-8" in result.errors[0].message
    # Behind a byte order mark the row and the byte named are still the right ones.
    with_bom = do_import(as_ctx, world_a, b"\xef\xbb\xbf" + data)
    assert with_bom.errors[0].row == 3
    assert "byte 0xe9 in row 3" in with_bom.errors[0].message
    assert entity_count(world_a) == before


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("legal_name\r\nA LLC\r\n".encode("utf-16"), "NUL bytes"),
        (b"legal_name\r\nA\x00 LLC\r\n", "NUL bytes"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (b"legal_name;state\r\nA LLC;CA\r\n", "separated by semicolons"),
        (b'legal_name\r\n"A "LLC"\r\n', "cannot be read as CSV"),
    ],
)
def test_files_that_are_not_comma_separated_utf8_text_are_refused(
    world_a: World, as_ctx: ActAs, data: bytes, expected: str
) -> None:
    before = entity_count(world_a)
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created) == (False, 0)
    assert len(result.errors) == 1
    assert expected in result.errors[0].message
    assert entity_count(world_a) == before


def test_a_file_over_the_size_limit_is_refused(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    line = "Entity With A Long Enough Name To Fill Space LLC,CA,LLC"
    data = csv_bytes("legal_name,state,entity_type", *[line] * (MAX_BYTES // len(line) + 1))
    assert len(data) > MAX_BYTES
    result = do_import(as_ctx, world_a, data)
    assert not result.ok
    assert result.errors == [
        RowError(
            None, "", "The file is larger than 2 MB, the limit for one import. Split it into smaller files."
        )
    ]
    assert entity_count(world_a) == before


def test_a_file_over_the_row_limit_is_refused_before_any_row_is_checked(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    data = csv_bytes("legal_name", *[f"E{i}" for i in range(MAX_ROWS + 1)])
    assert len(data) < MAX_BYTES
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.rows_seen) == (False, MAX_ROWS + 1)
    assert [e.row for e in result.errors] == [None]
    assert (
        f"The file has {MAX_ROWS + 1} rows; one import takes at most {MAX_ROWS}" in result.errors[0].message
    )
    assert entity_count(world_a) == before


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("E{i}", f"The file has 100000 rows; one import takes at most {MAX_ROWS}"),
        ("Entity number {i} of a hundred thousand LLC", "The file is larger than 2 MB"),
    ],
    ids=["short rows: the row limit", "long rows: the size limit"],
)
def test_a_hundred_thousand_rows_are_refused_with_one_clear_error(
    world_a: World, as_ctx: ActAs, row: str, expected: str
) -> None:
    before = entity_count(world_a)
    data = csv_bytes("legal_name", *[row.format(i=i) for i in range(100_000)])
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created) == (False, 0)
    assert len(result.errors) == 1 and result.errors[0].row is None
    assert expected in result.errors[0].message
    assert entity_count(world_a) == before


def test_exactly_the_row_limit_is_accepted(world_a: World, as_ctx: ActAs) -> None:
    class SmallImporter(MsoEntityImporter):
        max_rows = 3

    before = entity_count(world_a)
    rows = ["A LLC", "B LLC", "C LLC"]
    assert do_import(as_ctx, world_a, csv_bytes("legal_name", *rows), SmallImporter()).created == 3
    refused = do_import(as_ctx, world_a, csv_bytes("legal_name", *rows, "D LLC"), SmallImporter())
    assert "at most 3" in refused.errors[0].message
    assert entity_count(world_a) == before + 3


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xef\xbb\xbf",
        b"\r\n\r\n",
        b" , \r\n,,\r\n",
        b"legal_name,state\r\n",
        b"legal_name\r\n\r\n,\r\n",
    ],
)
def test_an_empty_file_or_a_header_alone_creates_nothing(world_a: World, as_ctx: ActAs, data: bytes) -> None:
    before = entity_count(world_a)
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created, result.rows_seen) == (False, 0, 0)
    assert len(result.errors) == 1
    assert result.errors[0].row is None
    assert result.errors[0].message in ("The file is empty.", "The file has a header row but no data rows.")
    assert entity_count(world_a) == before


def test_formula_cells_are_refused_in_text_columns(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    data = csv_bytes(
        "legal_name,state,entity_type",
        '"=HYPERLINK(""http://evil.test"",""x"")",CA,LLC',
        "+cmd|' /C calc'!A0,CA,LLC",
        "-2+3,CA,LLC",
        "Fine LLC,CA,@SUM(1+1)",
        '"  =1+1",CA,LLC',  # leading spaces do not hide it
    )
    result = do_import(as_ctx, world_a, data)
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [
        (2, "legal_name"),
        (3, "legal_name"),
        (4, "legal_name"),
        (5, "entity_type"),
        (6, "legal_name"),
    ]
    assert all("run as a formula" in e.message for e in result.errors)
    assert "Starts with “=”" in result.errors[0].message
    assert entity_count(world_a) == before


def test_signed_numbers_and_phone_numbers_pass_but_formulas_in_them_do_not(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    refused = do_import(
        as_ctx,
        world_a,
        csv_bytes("legal_name,adjustment,phone", "A LLC,=1+2,", "B LLC,-5,+1 (555) 010-0100", "C LLC,,+1=2"),
        SignedCellsImporter(),
    )
    assert [(e.row, e.column) for e in refused.errors] == [(2, "adjustment"), (4, "phone")]
    assert all("formula" in e.message for e in refused.errors)  # one message a cell, not the form's too
    assert entity_count(world_a) == before
    result = do_import(
        as_ctx,
        world_a,
        csv_bytes("legal_name,adjustment,phone", "B LLC,-5,+1 (555) 010-0100", "C LLC,+2.50,"),
        SignedCellsImporter(),
    )
    assert (result.ok, result.created) == (True, 2)
    assert MsoEntity.objects.get(tenant=world_a.tenant, legal_name="B LLC").entity_type == "+1 (555) 010-0100"
    assert entity_count(world_a) == before + 2


def test_a_key_repeated_inside_the_file_is_refused(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    data = csv_bytes("legal_name,state", "Glow LLC,CA", "Other LLC,CA", "  glow   llc ,NV", "GLOW LLC,AZ")
    result = do_import(as_ctx, world_a, data)
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [(4, "legal_name"), (5, "legal_name")]
    assert result.errors[0].message == "Same legal_name as row 2; each may appear once per file."
    assert entity_count(world_a) == before


def test_composite_unique_keys(world_a: World, as_ctx: ActAs) -> None:
    class PerStateImporter(MsoEntityImporter):
        unique_columns = (("legal_name", "state"),)

    before = entity_count(world_a)
    ok = do_import(
        as_ctx, world_a, csv_bytes("legal_name,state", "Glow LLC,CA", "Glow LLC,NV"), PerStateImporter()
    )
    assert (ok.ok, ok.created) == (True, 2)
    refused = do_import(
        as_ctx, world_a, csv_bytes("Legal Name,State", "Spa LLC,CA", "spa llc,ca"), PerStateImporter()
    )
    assert refused.errors == [
        RowError(3, "Legal Name", "Same Legal Name + State as row 2; each may appear once per file.")
    ]
    assert entity_count(world_a) == before + 2


def test_a_service_refusal_in_the_write_phase_rolls_back_rows_already_written(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    importer = CountingImporter()
    data = csv_bytes(
        "legal_name,state",
        "First LLC,CA",
        "Second LLC,NV",
        "Third LLC,C1",  # passes the row form (2 characters); the service refuses it
        "Fourth LLC,AZ",
        "Fifth LLC,9Z",
    )
    result = do_import(as_ctx, world_a, data, importer)
    # The first two rows really were in the database, and the rows after the refusal still ran.
    assert importer.counts_after_write == [before + 1, before + 2, before + 3]
    assert (result.ok, result.created, result.rows_seen) == (False, 0, 5)
    assert result.errors == [
        RowError(4, "state", "Use the two-letter state code, e.g. CA."),
        RowError(6, "state", "Use the two-letter state code, e.g. CA."),
    ]
    assert entity_count(world_a) == before
    assert not AuditLogEntry.objects.filter(tenant=world_a.tenant, action="csv_import").exists()


def test_a_database_refusal_in_the_write_phase_is_a_row_error_and_rolls_back(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    data = csv_bytes("legal_name", "Before LLC", "Clash LLC", "After LLC")
    result = do_import(as_ctx, world_a, data, ClashingImporter(world_a.entity.pk))
    assert result.errors == [RowError(3, "", "This row conflicts with a record that already exists.")]
    assert (result.ok, result.created) == (False, 0)
    assert entity_count(world_a) == before
    # The transaction is still usable afterwards: the row's own savepoint absorbed the failure.
    assert do_import(as_ctx, world_a, csv_bytes("legal_name", "Later LLC")).created == 1
    assert entity_count(world_a) == before + 1


def test_a_capacity_that_may_not_write_gets_the_services_refusal_and_nothing_is_written(
    world_a: World, as_ctx: ActAs
) -> None:
    before = entity_count(world_a)
    with pytest.raises(PermissionDenied):
        do_import(as_ctx, world_a, csv_bytes("legal_name", "A LLC", "B LLC"), capacity="auditor")
    assert entity_count(world_a) == before


def test_rows_land_in_the_importers_tenant_only(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    before_a, before_b = entity_count(world_a), entity_count(world_b)
    result = do_import(as_ctx, world_b, csv_bytes("legal_name", "Bravo Only LLC"))
    assert result.created == 1
    assert (entity_count(world_a), entity_count(world_b)) == (before_a, before_b + 1)


def test_the_template_is_an_importable_file(world_a: World, as_ctx: ActAs) -> None:
    template = MsoEntityImporter.template_csv()
    assert template == "legal_name,state,entity_type\r\nGlow Holdings LLC,CA,LLC\r\n"
    before = entity_count(world_a)
    result = do_import(as_ctx, world_a, template.encode("utf-8-sig"))
    assert (result.ok, result.created) == (True, 1)
    assert entity_count(world_a) == before + 1


def test_a_mistyped_declaration_fails_at_import_time_not_upload_time() -> None:
    entity_columns = MsoEntityImporter.columns
    with pytest.raises(ImproperlyConfigured, match="unique column 'name' is not a column"):

        class WrongKey(Importer):
            columns = entity_columns
            form_class = MsoEntityRow
            unique_columns = ("name",)

    with pytest.raises(ImproperlyConfigured, match="form field 'entity_type' is not a column"):

        class MissingColumn(Importer):
            columns = (Column("legal_name"), Column("state"))
            form_class = MsoEntityRow

    with pytest.raises(ImproperlyConfigured, match="'Legal Name' is not normalized"):

        class BadName(Importer):
            columns = (Column("Legal Name"),)

    with pytest.raises(ImproperlyConfigured, match="would be refused as a formula"):

        class BadExample(Importer):
            columns = (Column("legal_name", example="=1"),)

    class NoForm(Importer):
        columns = (Column("legal_name"),)

    with pytest.raises(ImproperlyConfigured, match="needs form_class or its own clean_row"):
        NoForm().clean_row(None, {"legal_name": "x"})  # type: ignore[arg-type]


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 701, 702)] == ["A", "Z", "AA", "AZ", "ZZ", "AAA"]


def test_the_report_partial_shows_counts_and_every_error_escaped(world_a: World, as_ctx: ActAs) -> None:
    before = entity_count(world_a)
    result = do_import(as_ctx, world_a, csv_bytes("legal_name,state", ",CA", "B LLC,CA", "C LLC,CAL", ",CA"))
    html = render_to_string("imports/_report.html", {"result": result})
    assert "Nothing was imported." in html
    assert "3 problems in 3 rows;" in html
    assert "4 data rows read, 0 created." in html
    assert html.count("<tr>") == 4  # the table's header row and one a problem
    assert "<td>5</td>" in html and "This field is required." in html

    hostile = do_import(as_ctx, world_a, csv_bytes("legal_name,<b>x</b>", "A LLC,1"))
    html = render_to_string("imports/_report.html", {"result": hostile})
    assert "1 problem in 1 row;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert entity_count(world_a) == before

    file_problem = render_to_string("imports/_report.html", {"result": do_import(as_ctx, world_a, b"")})
    assert "<td>File</td>" in file_problem
    assert "The file is empty." in file_problem

    done = do_import(as_ctx, world_a, csv_bytes("legal_name", "A LLC", "B LLC"))
    html = render_to_string("imports/_report.html", {"result": done})
    assert "Imported 2 rows of 2." in html
    assert "<table" not in html
    assert entity_count(world_a) == before + 2
