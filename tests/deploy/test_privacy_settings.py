"""Production refuses what a security review would (issue #15, finding 7): a short FK secret, a
database without verified TLS; the interactive docs are off in production unless enabled."""

from __future__ import annotations

from fastapi.testclient import TestClient

from infra.settings import Settings


def test_a_short_fk_secret_is_refused_in_production() -> None:
    assert any("SJUKFALL_FK_SECRET is shorter than 32" in p
               for p in Settings(fk_secret="x" * 31).production_problems())
    assert not any("SJUKFALL_FK_SECRET" in p
                   for p in Settings(fk_secret="x" * 32).production_problems())


def test_the_database_needs_verified_tls_in_production() -> None:
    def problems(url: str, **extra: object) -> list[str]:
        return [p for p in Settings(database_url=url, **extra).production_problems()
                if "sslmode=verify-full" in p]

    assert problems("postgresql://app@db/sjukfall")
    assert problems("postgresql://app@db/sjukfall?sslmode=require")
    assert not problems("postgresql://app@db/sjukfall?sslmode=verify-full&sslrootcert=/ca.pem")
    assert not problems("postgresql://app@db/sjukfall", database_insecure=True)


def test_docs_are_off_in_production_unless_enabled() -> None:
    from api.app import create_app

    def docs(settings: Settings) -> tuple[int, int]:
        app = create_app(settings, client=None, store=None)  # type: ignore[arg-type]
        with TestClient(app) as http:
            return http.get("/docs").status_code, http.get("/openapi.json").status_code

    assert docs(Settings()) == (200, 200)
    production = Settings.model_construct(**{**Settings().model_dump(), "env": "production"})
    assert docs(production) == (404, 404)
    enabled = Settings.model_construct(**{**Settings().model_dump(), "env": "production",
                                          "api_docs": True})
    assert docs(enabled) == (200, 200)
