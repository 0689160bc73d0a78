from rest_framework.routers import SimpleRouter

from management.api import agreements, frontdesk, marketing, parties, views, workforce

router = SimpleRouter()
router.register("mso-entities", views.MsoEntityViewSet, basename="mso-entity")
router.register("pcs", views.ProfessionalCorporationViewSet, basename="pc")
router.register("locations", views.LocationViewSet, basename="location")
router.register("shareholders", parties.ShareholderViewSet, basename="shareholder")
router.register(
    "fictitious-name-permits", parties.FictitiousNamePermitViewSet, basename="fictitious-name-permit"
)
router.register("bank-accounts", parties.BankAccountViewSet, basename="bank-account")
router.register("leases", parties.LeaseViewSet, basename="lease")
router.register("equipment", parties.EquipmentViewSet, basename="equipment")
router.register("equipment-services", parties.EquipmentServiceViewSet, basename="equipment-service")
router.register(
    "medical-waste-registrations",
    parties.MedicalWasteRegistrationViewSet,
    basename="medical-waste-registration",
)
router.register("vendors", workforce.VendorViewSet, basename="vendor")
router.register(
    "business-associate-agreements",
    workforce.BusinessAssociateAgreementViewSet,
    basename="business-associate-agreement",
)
router.register("staff-members", workforce.StaffMemberViewSet, basename="staff-member")
router.register("training-records", workforce.TrainingRecordViewSet, basename="training-record")
router.register("providers", workforce.ProviderViewSet, basename="provider")
router.register("clients", frontdesk.ClientViewSet, basename="client")
router.register("appointments", frontdesk.AppointmentViewSet, basename="appointment")
router.register("patient-payments", frontdesk.PatientPaymentViewSet, basename="patient-payment")

router.register("msas", agreements.MsaViewSet, basename="msa")
router.register(
    "performance-standards", agreements.PerformanceStandardViewSet, basename="performance-standard"
)
router.register("msa-amendments", agreements.MsaAmendmentViewSet, basename="msa-amendment")
router.register("agreement-documents", agreements.AgreementDocumentViewSet, basename="agreement-document")
router.register("fee-invoices", agreements.FeeInvoiceViewSet, basename="fee-invoice")
router.register("fee-payments", agreements.FeePaymentViewSet, basename="fee-payment")
router.register("pc-collections", agreements.PcCollectionViewSet, basename="pc-collection")
router.register("marketing-assets", marketing.MarketingAssetViewSet, basename="marketing-asset")
router.register("marketing-images", marketing.MarketingImageViewSet, basename="marketing-image")
router.register("consent-form-drafts", marketing.ConsentFormDraftViewSet, basename="consent-form-draft")

urlpatterns = router.urls
