"""``notify``: the team messages of the procedure, filled from the run's values.

With a webhook configured the message is posted (Slack / Mattermost incoming webhooks:
``{"text": ...}``; a Microsoft Teams workflow webhook: a message with an Adaptive Card); without
one the runner shows it and waits for a person to tick it "sent". A post that fails is tried
again with a doubling backoff (``attempts``, ``backoff``; a 429's ``Retry-After`` is honoured);
it fails the step only when the checklist marks the notice ``required``, otherwise the step
passes with a warning. What is posted is masked by value: no secret reaches the channel.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx

from iact_tui.engine.checklist.template import MissingValue
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.events import StepOutput
from iact_tui.engine.executors.base import Outcome, StepContext
from iact_tui.engine.executors.http import connection_message

ATTEMPTS = 3  # defaults of the step's ``attempts`` and ``backoff`` keys
BACKOFF = 1.0
MAX_RETRY_AFTER = 60.0


def teams_card(text: str) -> dict[str, Any]:
    """An Adaptive Card with one TextBlock per line: Teams drops single newlines inside a block."""
    body: list[dict[str, Any]] = []
    gap = False
    for line in text.strip("\n").split("\n"):
        if not line.strip():
            gap = True
            continue
        block: dict[str, Any] = {"type": "TextBlock", "text": line, "wrap": True}
        if not body:
            block.update(weight="Bolder", size="Medium")
        elif not gap:
            block["spacing"] = "None"
        body.append(block)
        gap = False
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


def payload(fmt: str, text: str, channel: str = "") -> dict[str, Any]:
    if fmt == "teams":
        return teams_card(text)
    body: dict[str, Any] = {"text": text}
    if channel:
        body["channel"] = channel
    return body


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(response.headers.get("retry-after", ""))))
    except ValueError:
        return None


class NotifyExecutor:
    kind: ClassVar[str] = "notify"

    def describe(self, step: Any, values: Values) -> str:
        # masked by value too: a plain variable may hold a secret's value
        return values.redactor(self._describe(step, values))

    def needs_person(self, step: Any, values: Values | None = None) -> bool:
        """Without a webhook (none in the checklist, or its value is empty or not known yet) the
        notice is shown and a person ticks it "sent"."""
        if not step.webhook:
            return True
        if values is None:
            return False
        try:
            return not values.text(step.webhook).strip()
        except MissingValue:
            return True

    def _describe(self, step: Any, values: Values) -> str:
        configured = not self.needs_person(step, values)
        target = f"{step.format} webhook" if configured else "team channel (tick when sent)"
        return f"notice to {target}:\n{values.display_text(step.message)}"

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        values = ctx.values
        # masked by value before anything leaves: a captured secret (a token) never reaches a channel
        text = values.redactor(values.text(step.message))
        url = values.text(step.webhook or "").strip()
        ctx.log.write(text + "\n")
        ctx.emit(StepOutput(step.id, text + "\n"))
        body = payload(step.format, text, values.text(step.channel) if step.channel else "")
        problem = ""
        for attempt in range(1, step.attempts + 1):
            delay = step.backoff * 2 ** (attempt - 1)
            try:
                response = await ctx.services.http.post(url, json=body, timeout=step.timeout or 15)
            except httpx.HTTPError as exc:
                problem = values.redactor(connection_message(exc, url))
            else:
                if response.status_code < 300:
                    note = f"posted to the {step.format} webhook (HTTP {response.status_code})"
                    self._say(ctx, note)
                    return Outcome(True, note, evidence={"http_status": response.status_code})
                problem = f"the webhook answered HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    self._say(ctx, f"attempt {attempt}: {problem}")
                    break  # a client error will not get better by retrying
                asked = _retry_after(response) if response.status_code == 429 else None
                if asked is not None:
                    delay = asked  # Slack and Teams say how long to back off
            if attempt < step.attempts:
                self._say(ctx, f"attempt {attempt}: {problem}; trying again in {delay:g} s")
                await asyncio.sleep(delay)
            else:
                self._say(ctx, f"attempt {attempt}: {problem}")
        message = f"the notice could not be posted: {problem}"
        if step.required:
            return Outcome(False, message)
        return Outcome(True, "not posted (see warning)", warning=message + "; send it by hand")

    @staticmethod
    def _say(ctx: StepContext, line: str) -> None:
        ctx.log.write(line + "\n")
        ctx.emit(StepOutput(ctx.step.id, line + "\n"))
