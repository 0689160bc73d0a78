"""Navigation sections of the business side (composed by tenants.views via settings.TENANT_SECTIONS)."""

from tenants.views import Section

SECTIONS = [
    # --- parties (management/views/parties.py) ---
    Section(
        "MSO entities",
        "mso-entity-list",
        "management.MsoEntity",
        "management.selectors.mso_entity_list",
        "Organization",
    ),
    Section(
        "Professional corporations",
        "pc-list",
        "management.ProfessionalCorporation",
        "management.selectors.pc_list",
        "Organization",
    ),
    Section(
        "Shareholders",
        "shareholder-list",
        "management.Shareholder",
        "management.selectors.shareholder_list",
        "Organization",
    ),
    Section(
        "Fictitious name permits",
        "fictitious-name-permit-list",
        "management.FictitiousNamePermit",
        "management.selectors.fictitious_name_permit_list",
        "Organization",
    ),
    Section(
        "Locations",
        "location-list",
        "management.Location",
        "management.selectors.location_list",
        "Organization",
    ),
    Section("Leases", "lease-list", "management.Lease", "management.selectors.lease_list", "Sites"),
    Section(
        "Equipment", "equipment-list", "management.Equipment", "management.selectors.equipment_list", "Sites"
    ),
    Section(
        "Equipment service visits",
        "equipment-service-list",
        "management.EquipmentService",
        "management.selectors.equipment_service_list",
        "Sites",
    ),
    Section(
        "Medical waste registrations",
        "medical-waste-registration-list",
        "management.MedicalWasteRegistration",
        "management.selectors.medical_waste_registration_list",
        "Sites",
    ),
    Section(
        "Bank accounts",
        "bank-account-list",
        "management.BankAccount",
        "management.selectors.bank_account_list",
        "Agreements & money",
    ),
    # --- end parties ---
    # --- marketing & consents (management/views/marketing.py) ---
    Section(
        "Marketing assets",
        "marketing-asset-list",
        "management.MarketingAsset",
        "management.selectors.marketing.marketing_asset_list",
        "Marketing & consents",
    ),
    Section(
        "Consent-form drafts",
        "consent-form-draft-list",
        "management.ConsentFormDraft",
        "management.selectors.marketing.consent_form_draft_list",
        "Marketing & consents",
    ),
    # --- workforce (management/views/workforce.py) ---
    Section(
        "Providers",
        "provider-list",
        "management.Provider",
        "management.selectors.workforce.provider_list",
        "Workforce",
    ),
    Section(
        "Staff",
        "staff-member-list",
        "management.StaffMember",
        "management.selectors.workforce.staff_member_list",
        "Workforce",
    ),
    Section(
        "Training records",
        "training-record-list",
        "management.TrainingRecord",
        "management.selectors.workforce.training_record_list",
        "Workforce",
    ),
    Section(
        "Vendors",
        "vendor-list",
        "management.Vendor",
        "management.selectors.workforce.vendor_list",
        "Workforce",
    ),
    Section(
        "Business associate agreements",
        "business-associate-agreement-list",
        "management.BusinessAssociateAgreement",
        "management.selectors.workforce.baa_list",
        "Workforce",
    ),
    # --- end workforce ---
    # --- front desk (management/views/frontdesk.py) ---
    Section(
        "Clients",
        "client-list",
        "management.Client",
        "management.selectors.frontdesk.client_list",
        "Front desk",
    ),
    Section(
        "Appointments",
        "appointment-list",
        "management.Appointment",
        "management.selectors.frontdesk.appointment_list",
        "Front desk",
    ),
    Section(
        "Patient payments",
        "patient-payment-list",
        "management.PatientPayment",
        "management.selectors.frontdesk.patient_payment_list",
        "Front desk",
    ),
    # --- end front desk ---
    # --- agreements (management/views/agreements.py) ---
    Section(
        "Agreements (MSAs)",
        "msa-list",
        "management.ManagementServicesAgreement",
        "management.selectors.agreements.msa_list",
        "Agreements & money",
    ),
    Section(
        "Fee invoices",
        "invoice-list",
        "management.ManagementFeeInvoice",
        "management.selectors.agreements.fee_invoice_list",
        "Agreements & money",
    ),
    Section(
        "Fee payments",
        "fee-payment-list",
        "management.FeePayment",
        "management.selectors.agreements.fee_payment_list",
        "Agreements & money",
    ),
    Section(
        "PC collections",
        "collection-list",
        "management.PcCollection",
        "management.selectors.agreements.pc_collection_list",
        "Agreements & money",
    ),
    # --- end agreements ---
]
