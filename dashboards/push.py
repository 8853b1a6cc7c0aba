"""Push the dashboards to a running Grafana over its HTTP API, with grafana-client.

grafana-client lives in the optional extra `signalight[grafana]` (it replaces the urllib3 import of the
environment it is installed into), so it is imported here only, when a push is asked for.
"""

from __future__ import annotations

from typing import Any

from controllers.devices import DeviceKind
from dashboards.build import dashboard


class GrafanaUnavailable(RuntimeError):
    """grafana-client is not installed."""


def push(url: str, token: str, *, folder_uid: str | None = None) -> list[str]:
    """Create or overwrite every dashboard in the Grafana at `url` (API token auth). Returns their URLs.

    Blocking (grafana-client is synchronous); call it from the CLI, not from an event loop.
    """
    try:
        from grafana_client import GrafanaApi
    except ImportError:
        raise GrafanaUnavailable("grafana-client is not installed: pip install 'signalight[grafana]'") from None
    api = GrafanaApi.from_url(url=url, credential=token)
    urls = []
    for kind in DeviceKind:
        body: dict[str, Any] = {"dashboard": dashboard(kind), "overwrite": True}
        if folder_uid:
            body["folderUid"] = folder_uid
        result = api.dashboard.update_dashboard(body)
        urls.append(f"{url.rstrip('/')}{result.get('url', '')}")
    return urls
