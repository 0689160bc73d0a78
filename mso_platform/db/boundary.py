"""The database half of the CPOM boundary: runtime roles, grants, row-level security, write audit.

Everything here is applied by the schema editor (``mso_platform.db.backend``) as tables are
created by ordinary migrations, so a fresh database gets the whole boundary from ``migrate``.
"""

from __future__ import annotations

from collections.abc import Iterable

# Runtime roles. None of them can log in, own a table, or bypass RLS; the login/owner role is a
# member of each so a request or task can ``SET LOCAL ROLE`` to the one its capacity allows.
GATEWAY_ROLE = "mso_gateway"  # before a tenant is known: sessions, users, tenant and key lookup
BUSINESS_ROLE = "mso_business"  # MSO capacities: no privilege at all on schema clinical
CLINICAL_ROLE = "mso_clinical"  # PC capacities
AUDITOR_ROLE = "mso_auditor"  # read-only, business data only
RUNTIME_ROLES = (GATEWAY_ROLE, BUSINESS_ROLE, CLINICAL_ROLE, AUDITOR_ROLE)
TENANT_ROLES = (BUSINESS_ROLE, CLINICAL_ROLE, AUDITOR_ROLE)

RW = "SELECT, INSERT, UPDATE, DELETE"
RO = "SELECT"

# Privileges per domain schema. Absence is the point: BUSINESS_ROLE gets nothing on "clinical".
SCHEMA_GRANTS: dict[str, dict[str, str]] = {
    "management": {BUSINESS_ROLE: RW, CLINICAL_ROLE: RO, AUDITOR_ROLE: RO},
    "clinical": {CLINICAL_ROLE: RW},
    "compliance": {BUSINESS_ROLE: RW, CLINICAL_ROLE: RW, AUDITOR_ROLE: RO},
}

ALL_RUNTIME = {r: RO for r in RUNTIME_ROLES}

# Privileges on tables in schema public, by table name. Tables not listed get none.
PUBLIC_TABLE_GRANTS: dict[str, dict[str, str]] = {
    "django_session": {r: RW for r in RUNTIME_ROLES},
    "django_content_type": ALL_RUNTIME,
    "auth_permission": ALL_RUNTIME,
    "auth_group": {**ALL_RUNTIME, BUSINESS_ROLE: RW, CLINICAL_ROLE: RW},
    "tenants_user_groups": {**ALL_RUNTIME, BUSINESS_ROLE: RW},
    "tenants_tenant": ALL_RUNTIME,
    # last_login is written by django.contrib.auth at login, in the gateway phase.
    "tenants_user": {**ALL_RUNTIME, GATEWAY_ROLE: "SELECT, UPDATE (last_login)", BUSINESS_ROLE: RW},
    "tenants_membership": {**ALL_RUNTIME, BUSINESS_ROLE: RW},
    "tenants_apikey": {
        **ALL_RUNTIME,
        GATEWAY_ROLE: "SELECT, UPDATE (last_used_at)",
        BUSINESS_ROLE: "SELECT, INSERT, UPDATE",
        CLINICAL_ROLE: "SELECT, INSERT, UPDATE",
    },
    # Append-only: INSERT and SELECT, never UPDATE or DELETE (a trigger refuses those to the owner too).
    "tenants_auditlogentry": {**{r: "SELECT, INSERT" for r in TENANT_ROLES}, GATEWAY_ROLE: "INSERT"},
    # Sign-in lockout (django-axes) runs at sign-in and sign-out, in the gateway phase: it counts,
    # expires and clears attempts (the expiration rows go with their attempt). Its failure log is
    # switched off, so that table gets nothing.
    "axes_accessattempt": {GATEWAY_ROLE: RW},
    "axes_accessattemptexpiration": {GATEWAY_ROLE: RW},
    "axes_accesslog": {GATEWAY_ROLE: "SELECT, INSERT, UPDATE"},
    # Second factor: devices are read, set up and verified outside any tenant (gateway phase only);
    # no tenant role can read a TOTP secret or a recovery-code hash.
    "otp_totp_totpdevice": {GATEWAY_ROLE: RW},
    "security_recoverycodedevice": {GATEWAY_ROLE: RW},
    "security_recoverycode": {GATEWAY_ROLE: RW},
}

# Row-level security. Every table with a tenant_id column gets this policy, ENABLEd and FORCEd.
TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"

# A few public tables must also be readable before a tenant is chosen, narrowly.
EXTRA_POLICY: dict[str, str] = {
    # the tenant picker lists the signed-in user's own memberships in every tenant
    "tenants_membership": "user_id = NULLIF(current_setting('app.user_id', true), '')::uuid",
    # an API request finds its key by the hash of the presented secret, nothing else
    "tenants_apikey": "key_hash = NULLIF(current_setting('app.api_key_hash', true), '')",
    # login events before a tenant exists are logged tenant-less
    "tenants_auditlogentry": (
        "tenant_id IS NULL AND NULLIF(current_setting('app.tenant_id', true), '') IS NULL"
    ),
}

# Tables whose writes are not themselves audited as row changes.
UNAUDITED_TABLES = {"tenants_auditlogentry", "django_session"}


# Roles are cluster-wide: two databases migrated at once (pytest-xdist's workers on a fresh server)
# both find a role missing and both create it; the second waits on the first's commit and then
# fails on pg_authid's unique index (unique_violation), or finds it created (duplicate_object).
# Either way the role exists, as wanted. Advisory locks would not serialize them: they are per
# database.
def roles_sql(roles: Iterable[str]) -> str:
    """Create each role unless it exists, and grant it to the migrating user."""
    return "\n".join(
        f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
    CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT NOCREATEDB NOCREATEROLE;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$ BEGIN
  GRANT {role} TO CURRENT_USER;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;"""
        for role in roles
    )


ROLES_SQL = roles_sql(RUNTIME_ROLES)

# Every write to a tenant-owned table is logged by the database, so bulk and raw SQL writes cannot
# skip the audit trail. SECURITY DEFINER: runtime roles may insert into the log only through here
# or through the app's read log, and the chain (issue 5) is computed in one place.
AUDIT_FUNCTIONS_SQL = r"""
-- A UUID version 7 (Unix milliseconds, then random bits), as tenants.models.time_ordered_uuid makes
-- for the app's entries: each entry lands next to the last in the primary-key index instead of on a
-- random page of it (a whole-page image in the WAL after every checkpoint).
CREATE OR REPLACE FUNCTION public.mso_time_ordered_uuid() RETURNS uuid
LANGUAGE sql VOLATILE AS $fn$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$fn$;

CREATE OR REPLACE FUNCTION public.mso_audit_row_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  rec jsonb;
  prev jsonb;
  changed jsonb := '[]'::jsonb;
  -- Bookkeeping columns (an API key's last use, the audit run that last saw a finding again) are
  -- not changes anyone audits; a finding's evidence, severity or status changing still is.
  bookkeeping constant text[] := '{last_used_at,last_seen_at,last_seen_run_id}';
  -- SECURITY DEFINER makes current_user the definer; the invoker is the SET ROLE in effect.
  invoker name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user);
BEGIN
  IF TG_OP = 'DELETE' THEN rec := to_jsonb(OLD); ELSE rec := to_jsonb(NEW); END IF;
  -- A tenant restore (inserts) or purge (deletes) by the table owner, never a runtime role, is
  -- recorded by the restored log or one "tenant.deleted" entry instead (tenants/portability).
  IF (TG_OP = 'INSERT' AND rec->>'tenant_id' = current_setting('app.restoring', true)
      OR TG_OP = 'DELETE' AND rec->>'tenant_id' = current_setting('app.purge_tenant', true))
     AND invoker NOT IN ('mso_gateway', 'mso_business', 'mso_clinical', 'mso_auditor')
     AND pg_has_role(invoker, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    -- A bookkeeping-only update is told by one comparison: a nightly audit sees thousands of
    -- findings again and changes nothing else in them (listing the changed keys costs twice as much).
    prev := to_jsonb(OLD);
    IF rec - bookkeeping = prev - bookkeeping THEN RETURN NULL; END IF;
    SELECT COALESCE(jsonb_agg(n.key ORDER BY n.key), '[]'::jsonb) INTO changed
    FROM jsonb_each(rec) n JOIN jsonb_each(prev) o USING (key)
    WHERE n.value IS DISTINCT FROM o.value;
  END IF;
  INSERT INTO public.tenants_auditlogentry
    (id, tenant_id, at, actor_id, capacity, action, object_type, object_id, detail, client_ip, via)
  VALUES (
    public.mso_time_ordered_uuid(),
    (rec->>'tenant_id')::uuid,
    clock_timestamp(),
    NULLIF(current_setting('app.user_id', true), '')::uuid,
    COALESCE(NULLIF(current_setting('app.capacity', true), ''), 'system'),
    lower(TG_OP),
    TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
    rec->>'id',
    CASE WHEN TG_OP = 'UPDATE' THEN jsonb_build_object('changed', changed) ELSE '{}'::jsonb END,
    NULLIF(current_setting('app.client_ip', true), '')::inet,
    COALESCE(NULLIF(current_setting('app.via', true), ''), 'system')
  );
  RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION public.mso_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  -- The one exception: a tenant delete removes that tenant's entries, in a transaction that set
  -- app.purge_tenant, as the table owner (runtime roles hold no DELETE privilege either).
  IF TG_OP = 'DELETE' AND OLD.tenant_id::text = current_setting('app.purge_tenant', true)
     AND current_user NOT IN ('mso_gateway', 'mso_business', 'mso_clinical', 'mso_auditor')
     AND pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $fn$;
"""


# The advisory lock (first key) under which mso_audit_chain() appends to a tenant's chain.
AUDIT_CHAIN_LOCK = 7340

# Tamper evidence: each entry carries the hash of the previous entry of its tenant (tenant-less
# entries form their own chain). The advisory lock serializes appends per tenant until commit, so
# two transactions never take the same seq; other tenants are not blocked.
AUDIT_CHAIN_SQL = r"""
CREATE OR REPLACE FUNCTION public.mso_audit_entry_hash(e public.tenants_auditlogentry) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT encode(sha256(convert_to(concat_ws('|',
    e.prev_hash, e.seq::text, COALESCE(e.tenant_id::text, ''), e.id::text,
    to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), COALESCE(e.actor_id::text, ''),
    e.capacity, e.action, e.object_type, e.object_id, e.detail::text,
    COALESCE(host(e.client_ip), ''), e.via), 'UTF8')), 'hex')
$fn$;

CREATE OR REPLACE FUNCTION public.mso_audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  last_seq bigint;
  last_hash text;
  invoker name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user);
BEGIN
  -- A tenant restore by the table owner (never a runtime role) keeps each entry's seq and hashes;
  -- the entry must still hash to its content, and the restore verifies the links afterwards.
  IF NEW.tenant_id::text = current_setting('app.restoring', true)
     AND invoker NOT IN ('mso_gateway', 'mso_business', 'mso_clinical', 'mso_auditor')
     AND pg_has_role(invoker, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    IF NEW.hash IS DISTINCT FROM public.mso_audit_entry_hash(NEW) THEN
      RAISE EXCEPTION 'restored audit entry % (seq %) does not match its hash', NEW.id, NEW.seq
        USING ERRCODE = 'data_exception';
    END IF;
    RETURN NEW;
  END IF;
  PERFORM pg_advisory_xact_lock(7340, hashtext(COALESCE(NEW.tenant_id::text, '')));
  -- Two plain lookups rather than one with OR, so each is a backward scan of the (tenant, seq) index
  -- instead of a scan of the whole log on every insert.
  IF NEW.tenant_id IS NULL THEN
    SELECT e.seq, e.hash INTO last_seq, last_hash FROM public.tenants_auditlogentry e
     WHERE e.tenant_id IS NULL ORDER BY e.seq DESC LIMIT 1;
  ELSE
    SELECT e.seq, e.hash INTO last_seq, last_hash FROM public.tenants_auditlogentry e
     WHERE e.tenant_id = NEW.tenant_id ORDER BY e.seq DESC LIMIT 1;
  END IF;
  NEW.seq := COALESCE(last_seq, 0) + 1;
  NEW.prev_hash := COALESCE(last_hash, repeat('0', 64));
  NEW.hash := public.mso_audit_entry_hash(NEW);
  RETURN NEW;
END $fn$;
"""

AUDIT_CHAIN_TRIGGER_SQL = (
    "CREATE TRIGGER audit_chain BEFORE INSERT ON public.tenants_auditlogentry "
    "FOR EACH ROW EXECUTE FUNCTION public.mso_audit_chain()"
)

# The first entry that does not fit the chain of one tenant: edited (hash differs from its content),
# deleted or reordered (its prev_hash is not the previous entry's hash, or seq skips).
AUDIT_CHAIN_CHECK_SQL = """
WITH chain AS (
  SELECT e.id, e.seq, e.hash, e.prev_hash, public.mso_audit_entry_hash(e) AS recomputed,
         lag(e.hash) OVER (ORDER BY e.seq) AS previous_hash,
         lag(e.seq) OVER (ORDER BY e.seq) AS previous_seq
  FROM public.tenants_auditlogentry e
  WHERE (e.tenant_id = %(tenant)s OR (%(tenant)s IS NULL AND e.tenant_id IS NULL))
)
SELECT seq, id,
  CASE WHEN hash <> recomputed THEN 'entry content does not match its hash'
       WHEN seq <> COALESCE(previous_seq, 0) + 1 THEN 'sequence gap: an entry was removed'
       ELSE 'link broken: previous entry removed or reordered' END,
  (SELECT count(*) FROM chain)
FROM chain
WHERE hash <> recomputed OR seq <> COALESCE(previous_seq, 0) + 1
   OR prev_hash <> COALESCE(previous_hash, repeat('0', 64))
ORDER BY seq LIMIT 1
"""


def grants_for(schema: str, table: str) -> dict[str, str]:
    if schema == "public":
        return PUBLIC_TABLE_GRANTS.get(table, {})
    return SCHEMA_GRANTS.get(schema, {})


def qualified(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


def table_grants_sql(schema: str, table: str) -> list[str]:
    """GRANTs for one freshly created table (nothing for tables the roles must not touch)."""
    name = qualified(schema, table)
    stmts = [f"GRANT {privs} ON {name} TO {role}" for role, privs in grants_for(schema, table).items()]
    if table == "tenants_auditlogentry":
        stmts.append(
            f"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION public.mso_audit_append_only()"
        )
    return stmts


def tenant_isolation_sql(schema: str, table: str) -> list[str]:
    """RLS (enabled and forced) and the write-audit trigger for a table that has tenant_id."""
    name = qualified(schema, table)
    using = TENANT_PREDICATE
    if table in EXTRA_POLICY:
        using = f"({TENANT_PREDICATE}) OR ({EXTRA_POLICY[table]})"
    stmts = [
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {name} USING ({using}) WITH CHECK ({using})",
    ]
    if table not in UNAUDITED_TABLES:
        stmts.append(
            f"CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION public.mso_audit_row_change()"
        )
    return stmts


def schema_sql(schema: str) -> list[str]:
    stmts = [f'CREATE SCHEMA IF NOT EXISTS "{schema}"']
    for role in SCHEMA_GRANTS.get(schema, {}):
        stmts.append(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
    return stmts


# --- Physician-reviewed content (management.models.marketing) -----------------------------------
# MSO staff draft marketing assets and consent forms; a PC physician decides on them. PostgreSQL
# computes each row's content hash from the columns below on every write, lets only the clinical
# role (or the owner, for restores) change the decision columns, refuses a decision by the person
# who drafted or submitted the row, and refuses "published" unless the current decision approves
# the very hash the row has now. Changing a column list needs a migration that re-creates the trigger.
REVIEWED_CONTENT: dict[str, tuple[str, ...]] = {
    "marketing_asset": (
        "title",
        "body",
        "channel",
        "brand_name",
        "location_id",
        "is_testimonial",
        "testimonial_disclosure",
        "images_digest",
    ),
    "consent_form_draft": ("title", "body", "procedure"),
}
DECISION_COLUMNS = ("decision", "decision_hash", "decision_note", "decided_at", "decided_by_id")

REVIEWED_CONTENT_SQL = f"""
CREATE OR REPLACE FUNCTION public.mso_reviewed_content() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
DECLARE
  row_json jsonb := to_jsonb(NEW);
  content jsonb := '{{}}'::jsonb;
  col text;
  decided boolean;
BEGIN
  FOREACH col IN ARRAY TG_ARGV LOOP
    content := content || jsonb_build_object(col, row_json -> col);
  END LOOP;
  NEW.content_hash := encode(sha256(convert_to(content::text, 'UTF8')), 'hex');
  IF TG_OP = 'INSERT' THEN
    decided := NEW.decision <> 'pending' OR NEW.decision_hash <> '' OR NEW.decision_note <> ''
               OR NEW.decided_at IS NOT NULL OR NEW.decided_by_id IS NOT NULL;
  ELSE
    decided := (NEW.decision, NEW.decision_hash, NEW.decision_note, NEW.decided_at, NEW.decided_by_id)
               IS DISTINCT FROM
               (OLD.decision, OLD.decision_hash, OLD.decision_note, OLD.decided_at, OLD.decided_by_id);
  END IF;
  IF decided THEN
    IF current_user IN ('{BUSINESS_ROLE}', '{AUDITOR_ROLE}', '{GATEWAY_ROLE}') THEN
      RAISE EXCEPTION 'only a physician records a decision on reviewed content' USING ERRCODE = '42501';
    END IF;
    IF NEW.decided_by_id IN (NEW.created_by_id, NEW.submitted_by_id) THEN
      RAISE EXCEPTION 'nobody decides on content they drafted or submitted' USING ERRCODE = '42501';
    END IF;
  END IF;
  IF NEW.state = 'published' AND NOT (NEW.decision = 'approved' AND NEW.decision_hash = NEW.content_hash) THEN
    RAISE EXCEPTION 'only content approved exactly as it stands may be published' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $fn$;
"""


def reviewed_content_sql(schema: str, table: str) -> list[str]:
    """The content trigger and the clinical role's decision-column grant for a reviewed table."""
    if schema != "management" or table not in REVIEWED_CONTENT:
        return []
    name = qualified(schema, table)
    args = ", ".join(f"'{c}'" for c in REVIEWED_CONTENT[table])
    return [
        REVIEWED_CONTENT_SQL,
        f"CREATE TRIGGER reviewed_content BEFORE INSERT OR UPDATE ON {name} "
        f"FOR EACH ROW EXECUTE FUNCTION public.mso_reviewed_content({args})",
        f"GRANT UPDATE ({', '.join(DECISION_COLUMNS)}) ON {name} TO {CLINICAL_ROLE}",
    ]
