"""``aiaas chat MODEL``: talk to a chat model, each answer printed as it is generated.

Interactive when stdin is a terminal (a prompt; the history is kept across turns; ``/reset``
clears it; ``/exit`` or Ctrl-D quits; Ctrl-C stops an answer). With ``--message`` (repeatable:
one turn each) or text piped on stdin it answers and exits.
"""

from __future__ import annotations

import itertools
import sys
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from aiaas.cli.common import ApiKeyOption, UrlOption, client
from aiaas.cli.output import err, fail, note, out, print_json, report
from aiaas.client import (
    AiaasAPIError,
    AuthenticationError,
    ChatResult,
    Client,
    NotFoundError,
    PermissionDeniedError,
)

HELP = "/reset clears the history, /exit (or Ctrl-D) quits, Ctrl-C stops an answer"
_FATAL = (NotFoundError, AuthenticationError, PermissionDeniedError)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@dataclass
class Conversation:
    """The messages so far; each turn sends all of them and keeps the answer."""

    api: Client
    model: str
    sampling: dict[str, Any]
    system: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def ask(self, text: str, *, echo: bool) -> ChatResult:
        """Send ``text`` with the history; with ``echo`` the answer is printed as it arrives.
        A turn that fails (or is interrupted) leaves the history as it was."""
        self.messages.append({"role": "user", "content": text})
        try:
            result = self._answer(echo)
        except BaseException:
            self.messages.pop()
            raise
        if result.text.strip():
            self.messages.append({"role": "assistant", "content": result.text})
        return result

    def _answer(self, echo: bool) -> ChatResult:
        waiting: AbstractContextManager[object] = (
            err.status("thinking…", spinner="dots") if echo and err.is_terminal else nullcontext())
        with ExitStack() as cleanup:
            with waiting:
                stream = cleanup.enter_context(
                    self.api.chat_stream(self.model, self.messages, **self.sampling))
                deltas = iter(stream)
                first = next(deltas, "")
            if echo:
                for delta in itertools.chain((first,), deltas):
                    _write(delta)
                _write("\n")
            result = stream.result()
        if echo and result.finish_reason == "length":
            note("(the answer was cut at --max-tokens)")
        return result


def _repl(conversation: Conversation) -> None:
    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and history for input())
    note(f"chatting with {conversation.model}; {HELP}")
    while True:
        try:
            text = out.input("[bold green]>>> [/]").strip()
        except EOFError:
            _write("\n")
            return
        if not text:
            continue
        command = text.lower()
        if command in ("/exit", "/quit"):
            return
        if command == "/reset":
            conversation.reset()
            note("history cleared")
            continue
        if command in ("/help", "/?"):
            note(HELP)
            continue
        try:
            conversation.ask(text, echo=True)
        except KeyboardInterrupt:
            _write("\n")
            note("stopped; that question is not kept")
        except _FATAL:
            raise
        except AiaasAPIError as exc:
            report(str(exc))


def chat(
    model: Annotated[str, typer.Argument(help="A chat model (NAME, or NAME:VERSION / NAME:ALIAS).")],
    message: Annotated[list[str] | None, typer.Option(
        "--message", "-m", help="Ask this and exit; repeat for several turns (history kept).")] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system prompt.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Longest answer, in tokens.")] = None,
    temperature: Annotated[float | None, typer.Option(
        min=0.0, max=2.0, help="0 always picks the likeliest token (repeatable answers).")] = None,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Nucleus sampling.")] = None,
    seed: Annotated[int | None, typer.Option(help="Fixes sampling, for repeatable answers.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print only the final result as JSON (with the whole conversation).")] = False,
) -> None:
    """Chat with a model: interactive on a terminal, else answer --message or stdin and exit."""
    interactive = not message and sys.stdin.isatty()
    if interactive and as_json:
        fail("--json needs --message or text on stdin")
    questions = list(message or ([] if interactive else [sys.stdin.read()]))
    if any(not question.strip() for question in questions):
        fail("the message is empty")
    sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
    with client(url, api_key) as api:
        conversation = Conversation(api, model, sampling, system)
        if interactive:
            api.get_model(model.partition(":")[0])  # an unknown model fails before the prompt
            _repl(conversation)
            return
        for question in questions:
            result = conversation.ask(question.strip(), echo=not as_json)
    if as_json:
        print_json({**result.model_dump(mode="json"), "messages": conversation.messages})
