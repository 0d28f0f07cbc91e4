"""What /api/health checks beyond answering at all. A release may add requirements here."""

import os


def problems() -> list[str]:
    # Release 1.2.0 reads stock from an external feed, but nobody added its URL to the staging
    # .env: the app starts, and health reports it unhealthy (the test's broken release).
    if not os.environ.get("INVENTORY_FEED_URL"):
        return ["INVENTORY_FEED_URL is not set"]
    return []
