"""factory_boy factories for test data; the demo seed reuses them."""

from __future__ import annotations

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.models import Tenant, User


class TenantFactory(DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Glow MSO {n}")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class MsoEntityFactory(DjangoModelFactory[MsoEntity]):
    class Meta:
        model = MsoEntity

    tenant = factory.SubFactory(TenantFactory)
    legal_name = factory.Sequence(lambda n: f"Glow Management {n} LLC")


class ProfessionalCorporationFactory(DjangoModelFactory[ProfessionalCorporation]):
    class Meta:
        model = ProfessionalCorporation

    tenant = factory.SubFactory(TenantFactory)
    legal_name = factory.Sequence(lambda n: f"Dr. Rivera Medical Corporation {n}")


class LocationFactory(DjangoModelFactory[Location]):
    class Meta:
        model = Location

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Glow Med Spa #{n}")
    address = factory.Faker("street_address")
    city = "San Diego"
    managing_entity = factory.SubFactory(MsoEntityFactory, tenant=factory.SelfAttribute("..tenant"))
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=factory.SelfAttribute("..tenant"))


class PatientChartFactory(DjangoModelFactory[PatientChart]):
    class Meta:
        model = PatientChart

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=factory.SelfAttribute("..tenant"))
    home_location = factory.SubFactory(
        LocationFactory, tenant=factory.SelfAttribute("..tenant"), pc=factory.SelfAttribute("..pc")
    )
    medical_record_number = factory.Sequence(lambda n: f"MRN{n:06d}")
    patient_name = factory.Faker("name")
    date_of_birth = dt.date(1988, 4, 12)
