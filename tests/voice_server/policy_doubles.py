"""A scripted stand-in for the agent's Policy, injected through `create_app(policy=...)`.

Replies are a function of the last driver line, so each socket test can steer the server:
"slow" holds the second sentence until the test opens `gate`, "bye" ends the call, "emergency"
transfers to the context's transfer number, "boom" makes the policy fail.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from agent import ReplyPart
from agent.types import CallContext, Transcript


class ScriptedPolicy:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.cancelled = 0
        self.reminder_counts: list[int] = []

    async def stream(
        self, context: CallContext, transcript: Transcript, reminders_in_a_row: int = 0
    ) -> AsyncIterator[ReplyPart]:
        last = next((t.content for t in reversed(transcript) if t.role == "user"), "")
        try:
            if reminders_in_a_row:
                self.reminder_counts.append(reminders_in_a_row)
                yield ReplyPart(text=f"Reminder {reminders_in_a_row}.", last=True)
                return
            if "boom" in last:
                raise RuntimeError("the policy failed")
            yield ReplyPart(text=f"Thanks {context.first_name or 'driver'}.", last=False)
            if "slow" in last:
                await asyncio.to_thread(self.gate.wait, 20)
            if "bye" in last:
                yield ReplyPart(text="Goodbye.", last=True, end_call=True)
            elif "emergency" in last:
                yield ReplyPart(
                    text="Connecting you to a dispatcher.",
                    last=True,
                    transfer_number=context.transfer_number,
                )
            else:
                yield ReplyPart(text=f"You said: {last}", last=True)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
