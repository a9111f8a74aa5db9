"""Försäkringskassan over the national service contracts (RIV-TA, clinicalprocess:healthcond:
certificate): SOAP plumbing and schemas (soap.py, schemas/), the messages as XML (mapping.py),
the outbound transport (transport.py). See fk/README.md."""
