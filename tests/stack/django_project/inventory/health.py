"""What /api/health checks beyond answering at all. A release may add requirements here."""


def problems() -> list[str]:
    return []
