"""Settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

# The first of these naming a readable file is the extra CA bundle image builds trust (TLS-intercepting proxies).
CA_BUNDLE_VARIABLES = ("CAB_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "NODE_EXTRA_CA_CERTS")


def find_ca_bundle() -> Path | None:
    for variable in CA_BUNDLE_VARIABLES:
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return Path(value)
    return None
