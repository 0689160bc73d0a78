"""Audit triggers learn tenant restore and purge (tenants/portability.py).

- mso_audit_chain keeps the seq/prev_hash/hash of entries inserted while app.restoring names their
  tenant (table owner only; the entry must still hash to its content);
- mso_audit_row_change skips rows of the tenant named in app.restoring (inserts) or app.purge_tenant
  (deletes), table owner only;
- mso_audit_append_only lets the table owner delete the entries of the tenant named in
  app.purge_tenant; everything else is refused as before.

Fresh databases get the same functions from the schema editor (mso_platform/db/boundary.py); the
two row-audit functions are also refreshed after every migrate (tenants/apps.py). The chain lookup
now uses the (tenant, seq) index instead of scanning the log on every insert.
"""

from django.db import migrations

from mso_platform.db import boundary

# The definitions this migration replaces, for unapplying it.
PREVIOUS_SQL = r"""
CREATE OR REPLACE FUNCTION public.mso_audit_row_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  rec jsonb;
  changed jsonb := '[]'::jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN rec := to_jsonb(OLD); ELSE rec := to_jsonb(NEW); END IF;
  IF TG_OP = 'UPDATE' THEN
    SELECT COALESCE(jsonb_agg(n.key ORDER BY n.key), '[]'::jsonb) INTO changed
    FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
    WHERE n.value IS DISTINCT FROM o.value;
    -- Bookkeeping columns (an API key's last use) are not changes anyone audits.
    IF changed <@ '["last_used_at"]'::jsonb THEN RETURN NULL; END IF;
  END IF;
  INSERT INTO public.tenants_auditlogentry
    (id, tenant_id, at, actor_id, capacity, action, object_type, object_id, detail, client_ip, via)
  VALUES (
    gen_random_uuid(),
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
  RAISE EXCEPTION 'audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $fn$;

CREATE OR REPLACE FUNCTION public.mso_audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  last_seq bigint;
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(7340, hashtext(COALESCE(NEW.tenant_id::text, '')));
  SELECT e.seq, e.hash INTO last_seq, last_hash FROM public.tenants_auditlogentry e
   WHERE (e.tenant_id = NEW.tenant_id OR (NEW.tenant_id IS NULL AND e.tenant_id IS NULL))
   ORDER BY e.seq DESC LIMIT 1;
  NEW.seq := COALESCE(last_seq, 0) + 1;
  NEW.prev_hash := COALESCE(last_hash, repeat('0', 64));
  NEW.hash := public.mso_audit_entry_hash(NEW);
  RETURN NEW;
END $fn$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0002_audit_hash_chain"),
    ]

    operations = [
        migrations.RunSQL(boundary.AUDIT_FUNCTIONS_SQL + boundary.AUDIT_CHAIN_SQL, PREVIOUS_SQL),
    ]
