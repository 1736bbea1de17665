"""fhir-at: FHIR R4 adapter for the assistive technology assessment (CPT 97755).

The public Python API lives in :mod:`fhir_at.api`; this module stays empty of imports so that
``fhir-at --help`` starts fast.
"""

__version__ = "0.1.0"
