"""API of physician-reviewed content the MSO drafts: marketing assets, their images, consent-form drafts.

Business keys write here through management.services.marketing; the workflow steps are POST actions
(``…/submit/``, ``…/publish/``, ``…/withdraw/``), each a *change* of the item for the permission layer.
The decision columns are read-only here: only a PC physician's key decides (``/physician-decisions/``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from management.filters.marketing import ConsentFormDraftFilter, MarketingAssetFilter, MarketingImageFilter
from management.models import (
    Client,
    ConsentFormDraft,
    Location,
    MarketingAsset,
    MarketingImage,
    PhysicianReviewed,
    ProfessionalCorporation,
)
from management.services import marketing as services
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadWriteTenantViewSet
from tenants.capacities import CHANGE
from tenants.models import User

R = TypeVar("R", bound=PhysicianReviewed)

# --- serializers -------------------------------------------------------------------------------------


class PersonSerializer(serializers.ModelSerializer[User]):
    """Who drafted, submitted, decided or published: a person, never an id to set."""

    class Meta:
        model = User
        fields = ["id", "full_name"]
        read_only_fields = fields


REVIEW_FIELDS = [
    "state",
    "review_status",
    "revision",
    "content_hash",
    "is_approved",
    "awaiting_decision",
    "decision",
    "decision_note",
    "decided_at",
    "decided_by",
    "created_by",
    "submitted_by",
    "submitted_at",
    "updated_at",
]


class ReviewedSerializer(serializers.ModelSerializer[R]):
    """The review state every reviewed item shows; none of it is writable through this API."""

    review_status = serializers.CharField(read_only=True, help_text="What a person should read.")
    is_approved = serializers.BooleanField(
        read_only=True, help_text="A physician approved the content exactly as it stands now."
    )
    awaiting_decision = serializers.BooleanField(
        read_only=True, help_text="Submitted, and its current content has no decision yet."
    )
    created_by = PersonSerializer(read_only=True)
    submitted_by = PersonSerializer(read_only=True, allow_null=True)  # until it is submitted
    decided_by = PersonSerializer(read_only=True, allow_null=True)  # until a physician decides


class MarketingImageInlineSerializer(serializers.ModelSerializer[MarketingImage]):
    class Meta:
        model = MarketingImage
        fields = ["id", "description", "kind", "altered", "labelled_as_model", "procedures_shown", "client"]
        read_only_fields = fields


class MarketingAssetSerializer(ReviewedSerializer[MarketingAsset]):
    pc = ScopedPrimaryKeyRelatedField(
        queryset=ProfessionalCorporation.objects.all(),
        help_text="The PC whose physicians decide on it; fixed once drafted.",
    )
    location = ScopedPrimaryKeyRelatedField(
        queryset=Location.objects.all(), allow_null=True, required=False, help_text="A location of the PC."
    )
    published_by = PersonSerializer(read_only=True, allow_null=True)  # until it is published
    images = MarketingImageInlineSerializer(many=True, read_only=True)

    class Meta:
        model = MarketingAsset
        fields = [
            "id",
            "pc",
            "location",
            "title",
            "body",
            "channel",
            "brand_name",
            "is_testimonial",
            "testimonial_disclosure",
            "images",
            "images_digest",
            *REVIEW_FIELDS,
            "published_at",
            "published_by",
        ]
        read_only_fields = [
            "id",
            "images_digest",
            "state",
            "revision",
            "content_hash",
            "decision",
            "decision_note",
            "decided_at",
            "submitted_at",
            "updated_at",
            "published_at",
        ]


class MarketingImageSerializer(serializers.ModelSerializer[MarketingImage]):
    asset = ScopedPrimaryKeyRelatedField(
        queryset=MarketingAsset.objects.all(), help_text="The asset that uses the image; fixed once added."
    )
    client = ScopedPrimaryKeyRelatedField(
        queryset=Client.objects.all(),
        allow_null=True,
        required=False,
        help_text="Whose photo it is, for a real patient's before/after image.",
    )

    class Meta:
        model = MarketingImage
        fields = [
            "id",
            "asset",
            "description",
            "kind",
            "altered",
            "labelled_as_model",
            "procedures_shown",
            "client",
        ]
        read_only_fields = ["id"]


class ConsentFormDraftSerializer(ReviewedSerializer[ConsentFormDraft]):
    pc = ScopedPrimaryKeyRelatedField(
        queryset=ProfessionalCorporation.objects.all(),
        help_text="The PC whose physicians decide on it; fixed once drafted.",
    )

    class Meta:
        model = ConsentFormDraft
        fields = ["id", "pc", "procedure", "title", "body", *REVIEW_FIELDS]
        read_only_fields = [
            "id",
            "state",
            "revision",
            "content_hash",
            "decision",
            "decision_note",
            "decided_at",
            "submitted_at",
            "updated_at",
        ]


# --- viewsets --------------------------------------------------------------------------------------------

PEOPLE = ("created_by", "submitted_by", "decided_by")


class MarketingAssetViewSet(ReadWriteTenantViewSet[MarketingAsset]):
    """Ads the MSO drafts for a PC. Publishing needs a physician's approval of the exact content; any
    edit (images included) voids the approval and sends a submitted or published asset back to review."""

    queryset = MarketingAsset.objects.select_related(
        "pc", "location", "published_by", *PEOPLE
    ).prefetch_related(Prefetch("images", queryset=MarketingImage.objects.order_by("description", "id")))
    serializer_class = MarketingAssetSerializer
    filterset_class = MarketingAssetFilter
    ordering_fields = ["title", "updated_at", "submitted_at", "state"]
    extra_actions = {"submit": CHANGE, "publish": CHANGE, "withdraw": CHANGE}

    def create_object(self, data: dict[str, Any]) -> MarketingAsset:
        return services.marketing_asset_create(ctx=self.access, **data)

    def update_object(self, obj: MarketingAsset, data: dict[str, Any]) -> MarketingAsset:
        return services.marketing_asset_update(ctx=self.access, asset=obj, **data)

    def _respond(self, asset: MarketingAsset) -> Response:
        self.check_still_visible(asset, CHANGE)
        fresh = self.base_queryset().get(pk=asset.pk)  # with its images and people, as a GET shows it
        return Response(self.get_serializer(fresh).data)

    @extend_schema(request=None, responses=MarketingAssetSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Send the asset to the PC's physicians for a decision (no change if already submitted)."""
        return self._respond(services.marketing_asset_submit(ctx=self.access, asset=self.get_object()))

    @extend_schema(request=None, responses=MarketingAssetSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        """Publish: only content a physician approved exactly as it stands (else 400, nothing written)."""
        return self._respond(services.marketing_asset_publish(ctx=self.access, asset=self.get_object()))

    @extend_schema(request=None, responses=MarketingAssetSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """Take the asset out of review or publication (no change if already withdrawn)."""
        return self._respond(services.marketing_asset_withdraw(ctx=self.access, asset=self.get_object()))


class MarketingImageViewSet(ReadWriteTenantViewSet[MarketingImage], mixins.DestroyModelMixin):
    """Images an asset uses, described by the flags ADV-003 reads. Each add, change or removal is an
    edit of the asset: its approval no longer applies."""

    queryset = MarketingImage.objects.select_related("asset", "client")
    serializer_class = MarketingImageSerializer
    filterset_class = MarketingImageFilter
    ordering_fields = ["description", "kind"]
    http_method_names = [*ReadWriteTenantViewSet.http_method_names, "delete"]

    def create_object(self, data: dict[str, Any]) -> MarketingImage:
        return services.marketing_image_add(ctx=self.access, **data)

    def update_object(self, obj: MarketingImage, data: dict[str, Any]) -> MarketingImage:
        return services.marketing_image_update(ctx=self.access, image=obj, **data)

    def perform_destroy(self, instance: MarketingImage) -> None:
        services.marketing_image_remove(ctx=self.access, image=instance)


class ConsentFormDraftViewSet(ReadWriteTenantViewSet[ConsentFormDraft]):
    """Consent-form texts the MSO drafts for a PC and procedure; a physician's approval makes the draft
    the next numbered consent-form version (clinical), which patients sign."""

    queryset = ConsentFormDraft.objects.select_related("pc", *PEOPLE)
    serializer_class = ConsentFormDraftSerializer
    filterset_class = ConsentFormDraftFilter
    ordering_fields = ["title", "procedure", "updated_at", "submitted_at", "state"]
    extra_actions = {"submit": CHANGE}

    def create_object(self, data: dict[str, Any]) -> ConsentFormDraft:
        return services.consent_form_draft_create(ctx=self.access, **data)

    def update_object(self, obj: ConsentFormDraft, data: dict[str, Any]) -> ConsentFormDraft:
        return services.consent_form_draft_update(ctx=self.access, draft=obj, **data)

    @extend_schema(request=None, responses=ConsentFormDraftSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Send the draft to the PC's physicians for a decision (no change if already submitted)."""
        draft = services.consent_form_draft_submit(ctx=self.access, draft=self.get_object())
        self.check_still_visible(draft, CHANGE)
        return Response(self.get_serializer(self.base_queryset().get(pk=draft.pk)).data)
