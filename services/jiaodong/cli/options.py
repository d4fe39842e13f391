"""Options that every command of a group takes, declared once.

The shared options stay after the subcommand (``jiaodong delegation list --node ... --as-court
...``), so they cannot be a typer callback on the group, which would take them before it. Instead
a command names one parameter, ``call``, where they belong; ``node_command`` and
``coordinator_command`` put the options in its place (and after the command's own options, in the
order its help has always shown) and hand the command the call they describe.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from jiaodong.cli import lang
from jiaodong.cli.connect import (
    DEFAULT_COORDINATOR,
    DEFAULT_NODE,
    coordinator_call,
    node_call,
)
from jiaodong.domain.labels import Lang

Command = Callable[..., None]


def command_group(help_text: str) -> typer.Typer:
    """A group of commands (``jiaodong delegation``, ``jiaodong sla`` ...): bare, it shows its
    help."""
    return typer.Typer(help=help_text, no_args_is_help=True)


# --- `delegation`: a court node, as one court and role -------------------------------------------

NodeOption = Annotated[
    str,
    typer.Option(
        "--node", envvar="JD_NODE", metavar="ADDRESS", help="Court node gRPC address (host:port)."
    ),
]
CourtOption = Annotated[
    str,
    typer.Option(
        "--as-court",
        envvar="JD_COURT",
        metavar="ID",
        help="Act as this court (6-digit court id): the CLI presents that court's certificate.",
    ),
]
RoleOption = Annotated[
    str,
    typer.Option(
        "--role", envvar="JD_ROLE", help="officer (执行员) or clerk (书记员): whose certificate."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the response as JSON; stdout carries only JSON.")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the node.")
]

# --- `sla`: the coordinator, as a command centre -------------------------------------------------

CoordinatorOption = Annotated[
    str,
    typer.Option(
        "--coordinator",
        envvar="JD_COORDINATOR",
        help="Coordinator gRPC address (host:port).",
        show_default=True,
    ),
]
AsIdentityOption = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="JD_IDENTITY",
        metavar="ROLE:SCOPE",
        help="Whose certificate: operator:region, operator:<city>, auditor:region.",
        show_default=True,
    ),
]
CoordinatorJsonOption = Annotated[bool, typer.Option("--json", help="Print the response as JSON.")]
CoordinatorTimeoutOption = Annotated[
    float, typer.Option(help="Seconds to wait for the coordinator.", min=0.1)
]


# --- every command that prints for people --------------------------------------------------------

# `delegation controls` and `ops controls`: the watch states to list.
# Options of the node commands that send documents or requests (delegation, assist).
DocumentsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--document",
        metavar="PATH",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Attach a file: its content is uploaded to the node, then it travels; repeatable.",
    ),
]
RequestIdOption = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        metavar="KEY",
        help="Idempotency key; reuse it to retry safely (default: a fresh random one).",
    ),
]
ControlStatesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--state",
        metavar="STATE",
        help="Only this state (STANDING, RENEW_SOON, RENEW_OVERDUE, LAPSED, RENEWED); "
        "repeatable. Default: all but RENEWED.",
    ),
]
LangOption = Annotated[
    Lang,
    typer.Option(
        "--lang",
        envvar=lang.ENV,
        case_sensitive=False,
        help="Language of tables and messages: zh (simplified Chinese) or en. JSON is unaffected.",
    ),
]


def _option(
    name: str, annotation: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default
    )


def _with_shared_options(
    command: Command,
    in_place: Sequence[inspect.Parameter],
    after: Sequence[inspect.Parameter],
    make_call: Callable[..., object],
) -> Command:
    """``command`` with its ``call`` parameter replaced by ``in_place`` and ``after`` appended,
    and --lang last; the values of those options become ``call=make_call(**values)``, --lang sets
    the language of what the command prints."""
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    at = next(i for i, p in enumerate(own) if p.name == "call")
    params = [
        *own[:at],
        *in_place,
        *own[at + 1 :],
        *after,
        _option("lang", LangOption, lang.current()),
    ]
    shared = {p.name for p in (*in_place, *after)}

    @functools.wraps(command)
    def run(**values: Any) -> None:
        lang.use(values.pop("lang"))  # first: the call's own errors are printed in it too
        call = make_call(**{name: values.pop(name) for name in shared})
        command(call=call, **values)

    run.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return run


def node_command(*, json: bool = True, timeout: float = 10.0) -> Callable[[Command], Command]:
    """--as-court where the command's ``call`` stands; then --node, --role, --json (unless
    ``json`` is false) and --timeout; the command gets the NodeCall they describe."""
    after = [
        _option("node", NodeOption, DEFAULT_NODE),
        _option("role", RoleOption, "officer"),
        *([_option("json_out", JsonOption, False)] if json else []),
        _option("timeout", TimeoutOption, timeout),
    ]

    def decorate(command: Command) -> Command:
        return _with_shared_options(command, [_option("as_court", CourtOption)], after, _node_call)

    return decorate


def _node_call(
    node: str, as_court: str, role: str, timeout: float, json_out: bool = False
) -> object:
    return node_call(node, as_court, role, json_out, timeout)


def coordinator_command(*, timeout: float = 10.0) -> Callable[[Command], Command]:
    """--coordinator, --as, --json and --timeout after the command's own options; the command
    gets the CoordinatorCall they describe as ``call``."""
    after = [
        _option("coordinator", CoordinatorOption, DEFAULT_COORDINATOR),
        _option("who", AsIdentityOption, "operator:region"),
        _option("as_json", CoordinatorJsonOption, False),
        _option("timeout", CoordinatorTimeoutOption, timeout),
    ]

    def decorate(command: Command) -> Command:
        return _with_shared_options(command, [], after, coordinator_call)

    return decorate
