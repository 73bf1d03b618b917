"""Airflow connections from ``.env`` settings, as ``AIRFLOW_CONN_<ID>`` JSON values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

SOURCE_DEFAULTS = {
    # conn_id: (base URL setting, default host, key setting, extra)
    "defillama": ("DEFILLAMA_BASE_URL", "https://api.llama.fi", "DEFILLAMA_API_KEY", {
        "stablecoins_url": "https://stablecoins.llama.fi", "yields_url": "https://yields.llama.fi",
        "coins_url": "https://coins.llama.fi", "pro_url": "https://pro-api.llama.fi"}),
    "artemis": ("ARTEMIS_BASE_URL", "https://data-svc.artemisxyz.com", "ARTEMIS_API_KEY", {}),
    "helius": ("HELIUS_BASE_URL", "https://api-mainnet.helius-rpc.com", "HELIUS_API_KEY",
               {"rpc_url": "https://mainnet.helius-rpc.com"}),
    "birdeye": ("BIRDEYE_BASE_URL", "https://public-api.birdeye.so", "BIRDEYE_API_KEY", {"chain": "solana"}),
}


class EnvFileError(ValueError):
    pass


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments allowed; anything else is an error naming the line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise EnvFileError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()[:40]!r}")
        key, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def build_connections(settings: dict[str, str], warehouse_dsn: str) -> dict[str, str]:
    """conn_id -> the JSON (or URI) of its ``AIRFLOW_CONN_*`` value. Only the alert channels that are set exist."""
    conns: dict[str, str] = {"warehouse": warehouse_dsn}
    for conn_id, (url_key, default_host, key_name, extra) in SOURCE_DEFAULTS.items():
        extra = dict(extra)
        base = settings.get(url_key) or default_host
        if conn_id == "defillama" and settings.get(url_key):
            # the demo points every DefiLlama host at one server
            extra = {k: base for k in extra}
        if conn_id == "helius" and settings.get(url_key):
            extra["rpc_url"] = base
        conns[conn_id] = json.dumps({"conn_type": "http", "host": base, "password": settings.get(key_name, ""),
                                     "extra": extra})
    conns["pumpportal"] = json.dumps({"conn_type": "generic",
                                      "host": settings.get("PUMPPORTAL_URL") or "wss://pumpportal.fun/api/data",
                                      "password": settings.get("PUMPPORTAL_API_KEY", "")})
    if settings.get("ALERTS_SLACK_WEBHOOK_URL"):
        conns["alerts_slack"] = json.dumps({"conn_type": "slackwebhook",
                                            "password": settings["ALERTS_SLACK_WEBHOOK_URL"]})
    if settings.get("ALERTS_WEBHOOK_URL"):
        parts = urlsplit(settings["ALERTS_WEBHOOK_URL"])
        conns["alerts_webhook"] = json.dumps({"conn_type": "http", "host": f"{parts.scheme}://{parts.netloc}",
                                              "extra": {"endpoint": parts.path or "/"}})
    if settings.get("SMTP_HOST"):
        conns["smtp_default"] = json.dumps({
            "conn_type": "smtp", "host": settings["SMTP_HOST"], "port": int(settings.get("SMTP_PORT") or 587),
            "login": settings.get("SMTP_USER", ""), "password": settings.get("SMTP_PASSWORD", ""),
            "extra": {"from_email": settings.get("ALERTS_EMAIL_FROM", ""),
                      "alerts_to": settings.get("ALERTS_EMAIL_TO", "")}})
    return conns
