"""`iact-tui demo`: the staging checklist against a sandbox built inside this process.

Engine-side: nothing here imports Textual.
"""

from iact_tui.demo.sandbox import FAULTS, BackgroundSandbox, Sandbox, SandboxError

__all__ = ["FAULTS", "BackgroundSandbox", "Sandbox", "SandboxError"]
