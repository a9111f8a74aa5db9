"""Which transport carries the FK port: SJUKFALL_FK_TRANSPORT names it (json: signed JSON to an
integration gateway, fk/port.py; rivta: RIV-TA SOAP through the national platform,
fk/rivta/transport.py). Kept apart from both so neither imports the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from fk.port import FkPort, HttpTransport
from fk.rivta.transport import RivtaTransport

if TYPE_CHECKING:
    from infra.settings import Settings


def transport_for(settings: Settings, http: httpx.AsyncClient) -> FkPort:
    """The transport SJUKFALL_FK_TRANSPORT names, over `http` (mutual TLS: `gateway_client`)."""
    if settings.fk_transport == "rivta":
        return RivtaTransport(
            settings.resolved_fk_url,
            fk_logical_address=settings.rivta_fk_logical_address,
            care_provider_id=settings.rivta_logical_address,
            care_provider_name=settings.rivta_care_provider_name,
            timeout=settings.fk_timeout_seconds,
            http=http,
        )
    return HttpTransport(
        settings.resolved_fk_url, settings.fk_secret, timeout=settings.fk_timeout_seconds, http=http
    )
