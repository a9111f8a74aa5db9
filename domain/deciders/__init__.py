"""The rules of a case by subdomain, each with `decide` and `evolve`; combined in domain/decider.py."""
