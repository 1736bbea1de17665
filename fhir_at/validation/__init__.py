"""The FHIR R4 validator: packages, structure, invariants, terminology, bundles."""
