"""Where the load goes, and the safety check before any of it: a running stand's settings (the anycast
address, checked to lead into the stand), or, on a real deployment's client machine, the settings the
runner gave it (`bench run --inventory`, checked against the addresses it found on the inventory's hosts)."""

from __future__ import annotations

from pathlib import Path

from stand.client import ClientSettings, DeploymentSettings, resolve
from stand.safety import check_deployment_target, check_target


def checked_target(url: str | None, stand_prefix: str, deployment: Path | None) -> tuple[ClientSettings, str | None]:
    """The client settings and the link every socket must be bound to (None: no binding needed), once the
    target passed its check; raises UnsafeTarget, NoStand or ValueError before any traffic."""
    if deployment is not None:
        given = DeploymentSettings.load(deployment)
        settings = given.settings.with_url(url) if url else given.settings
        check_deployment_target(settings.host, given.allowed)
        return settings, None
    settings = resolve(url, stand_prefix)
    return settings, check_target(settings.host)
