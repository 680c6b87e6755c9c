"""SNS SubscriptionConfirmation: always logged; followed only when GENAI_FLOW_SNS_AUTO_CONFIRM is set, and only to
an HTTPS URL on the AWS SNS host (`sns.<region>.amazonaws.com`), so a forged body cannot make the gateway fetch
an arbitrary URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from runtime.logging import get_logger
from runtime.settings import Settings
from schemas.s3events import SnsSubscription

log = get_logger(__name__)

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
CONFIRM_TIMEOUT_S = 10.0


def is_sns_url(url: str) -> bool:
    """True for an HTTPS URL on the AWS SNS host (no user info, default port)."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.port in (None, 443)
        and bool(SNS_HOST.match(parts.hostname or ""))
    )


async def handle_subscription(settings: Settings, subscription: SnsSubscription) -> str:
    """Log the confirmation; follow it when configured and safe. Returns what happened (for the ignored reason)."""
    url = subscription.subscribe_url
    if not settings.sns_auto_confirm:
        log.warning(
            "SNS subscription awaiting confirmation: visit the URL to confirm",
            topic=subscription.topic_arn,
            subscribe_url=url,
        )
        return "SNS SubscriptionConfirmation logged (GENAI_FLOW_SNS_AUTO_CONFIRM is off)"
    if not is_sns_url(url):
        log.warning("SNS SubscribeURL refused: not the AWS SNS host", topic=subscription.topic_arn, subscribe_url=url)
        return "SNS SubscriptionConfirmation refused: SubscribeURL is not on the AWS SNS host"
    try:
        async with httpx.AsyncClient(timeout=CONFIRM_TIMEOUT_S, follow_redirects=False) as http:
            response = await http.get(url)
        response.raise_for_status()
    except httpx.HTTPError as err:
        log.warning("SNS subscription confirmation failed", topic=subscription.topic_arn, error=str(err))
        return f"SNS SubscriptionConfirmation failed: {err}"
    log.info("SNS subscription confirmed", topic=subscription.topic_arn)
    return "SNS SubscriptionConfirmation confirmed"
