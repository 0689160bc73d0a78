"""API matrix entries of physician-reviewed content the MSO drafts: assets, images, consent drafts.

Payloads name objects the world already holds (the domain worlds of the attack tests must not be
written to by building a payload); a bare world (no ``objs``) gets the asset it lacks from factories.
"""

from __future__ import annotations

import itertools
from typing import Any

from management.models import ConsentFormDraft, MarketingAsset, MarketingImage
from tenants.capacities import Side
from tests import factories as f
from tests.api_matrix import Endpoint
from tests.worlds import World

_serial = itertools.count(1)


def asset_of(w: World, index: int = 0) -> MarketingAsset:
    """An asset of PC `index` (the first PC is the one object-scoped capacities hold)."""
    found = [a for a in w.objs.get(MarketingAsset, []) if a.pc_id == w.pcs[index].pk]
    if found:
        return found[0]
    return f.MarketingAssetFactory.create(tenant=w.tenant, pc=w.pcs[index], created_by=w.user("mso_staff"))


def _asset_payload(w: World) -> dict[str, Any]:
    return {
        "pc": str(w.pcs[0].pk),
        "title": f"Matrix summer glow {next(_serial)}",
        "body": "Hydrating facials and IPL photofacials. Results vary; consultation required.",
        "channel": "website",
        "brand_name": w.pcs[0].legal_name,
        "is_testimonial": False,
    }


def _image_payload(w: World) -> dict[str, Any]:
    return {
        "asset": str(asset_of(w).pk),
        "description": f"Treatment room, daylight {next(_serial)}",
        "kind": "stock",
        "altered": False,
    }


def _consent_payload(w: World) -> dict[str, Any]:
    return {
        "pc": str(w.pcs[0].pk),
        "procedure": "dermal_filler",
        "title": f"Consent to dermal filler {next(_serial)}",
        "body": "I consent to hyaluronic acid filler. Risks include swelling, bruising and occlusion.",
    }


def _asset_rows(w: World, n: int) -> list[Any]:
    staff = w.user("mso_staff")
    return [
        f.MarketingAssetFactory.create(tenant=w.tenant, pc=w.pcs[i % 2], created_by=staff) for i in range(n)
    ]


def _image_rows(w: World, n: int) -> list[Any]:
    assets = [asset_of(w, 0), asset_of(w, 1)]
    return [f.MarketingImageFactory.create(tenant=w.tenant, asset=assets[i % 2]) for i in range(n)]


def _consent_rows(w: World, n: int) -> list[Any]:
    staff = w.user("mso_staff")
    return [
        f.ConsentFormDraftFactory.create(tenant=w.tenant, pc=w.pcs[i % 2], created_by=staff) for i in range(n)
    ]


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="marketing-assets",
        model=MarketingAsset,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        # Every asset of the world, the one waiting in the queue (tests.domain_world) included.
        own_objects=lambda w: list(MarketingAsset.objects.filter(tenant=w.tenant)),
        writes=frozenset({"create", "update"}),
        create_payload=_asset_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"title": "Renamed matrix ad"},
        make_rows=_asset_rows,
    ),
    Endpoint(
        name="marketing-images",
        model=MarketingImage,
        side=Side.BUSINESS,
        scope=lambda o: o.asset.pc,
        own_objects=lambda w: list(w.objs.get(MarketingImage, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_image_payload,
        # The asset is the first PC's: visible (and changeable) exactly where that PC is.
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"description": "Renamed matrix image"},
        make_rows=_image_rows,
        also_writes=frozenset({MarketingAsset}),
    ),
    Endpoint(
        name="consent-form-drafts",
        model=ConsentFormDraft,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.objs.get(ConsentFormDraft, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_consent_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"title": "Renamed matrix consent"},
        make_rows=_consent_rows,
    ),
]
