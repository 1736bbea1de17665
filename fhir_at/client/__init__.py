"""Talking to FHIR servers: one HTTP client, authentication, push, the outbox and pull."""
