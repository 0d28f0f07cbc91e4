"""``notify``: the team messages of the procedure, filled from the run's values.

With a webhook configured the message is posted (Slack / Mattermost ``{"text": ...}``, or a
Microsoft Teams workflow's message card); without one the runner shows it and waits for a person
to tick it "sent". A post that fails is retried with backoff; it fails the step only when the
checklist marks the notice ``required``, otherwise the step passes with a warning.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx

from iact_tui.engine.events import StepOutput
from iact_tui.engine.executors.base import Outcome, StepContext
from iact_tui.engine.executors.http import connection_message
from iact_tui.engine.values import Values

ATTEMPTS = 3
BACKOFF = 1.0


def payload(fmt: str, text: str, channel: str = "") -> dict[str, Any]:
    if fmt == "teams":
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
                    },
                }
            ],
        }
    body: dict[str, Any] = {"text": text}
    if channel:
        body["channel"] = channel
    return body


class NotifyExecutor:
    kind: ClassVar[str] = "notify"

    def describe(self, step: Any, values: Values) -> str:
        target = "webhook" if step.webhook else "team channel (tick when sent)"
        return f"notice to {target}:\n{values.display_text(step.message)}"

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        values = ctx.values
        text = values.text(step.message)
        url = values.text(step.webhook or "").strip()
        shown = values.redactor(text)
        ctx.log.write(shown + "\n")
        ctx.emit(StepOutput(step.id, shown + "\n"))
        body = payload(step.format, text, values.text(step.channel) if step.channel else "")
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = await ctx.services.http.post(url, json=body, timeout=step.timeout or 15)
            except httpx.HTTPError as exc:
                problem = values.redactor(connection_message(exc, url))
            else:
                if response.status_code < 300:
                    note = f"posted to the webhook (HTTP {response.status_code})"
                    ctx.log.write(note + "\n")
                    return Outcome(True, note, evidence={"http_status": response.status_code})
                problem = f"the webhook answered HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # a client error will not get better by retrying
            ctx.log.write(f"attempt {attempt}: {problem}\n")
            if attempt < ATTEMPTS:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
        message = f"the notice could not be posted: {problem}"
        if step.required:
            return Outcome(False, message)
        return Outcome(True, "not posted (see warning)", warning=message + "; send it by hand")
