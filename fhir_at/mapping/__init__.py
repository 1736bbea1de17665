"""Mappers between the assessment and FHIR R4, one module per resource.

Each module exposes ``to_fhir(a, ctx)`` (adds its resources to the bundle being built) and
``from_fhir(index, out)`` (fills its part of the assessment from the resources found).
:mod:`fhir_at.mapping.bundle` drives them in both directions.
"""
