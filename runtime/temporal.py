"""The Temporal client: pydantic data converter, namespace, TLS and API key (so Temporal Cloud works)."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from runtime.settings import Settings, get_settings
from runtime.telemetry import temporal_interceptors


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for the frontend: mTLS when a client cert is configured, plain TLS when asked or with an API key."""
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings | None = None) -> Client:
    """Connect to Temporal with the project's data converter."""
    settings = settings or get_settings()
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    converter = pydantic_data_converter
    if settings.encryption_entries:
        # Encryption wraps the pydantic converter for every process that connects here. Imported only when keys
        # are set: the codec pulls in cryptography (~0.015 s), which a CLI command without keys never needs.
        from runtime.codec import with_encryption

        converter = with_encryption(converter, settings.encryption_entries)
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=tls_config(settings),
        data_converter=converter,
        interceptors=temporal_interceptors(settings),
    )
