"""One line for a config that pydantic refused: each problem with its YAML line and key.

`describe(error, root, text)` turns a `ValidationError` of model `root` into
"line 12: annotator.modle: unknown key, did you mean 'model'?; line 3: ..." (the line only when
the YAML `text` is given). An unknown key close to a valid one (difflib) names that key, and the
"Field required" of the key it probably meant is left out; otherwise the valid keys are listed.
Values are never echoed, except the rejected choice of an enum (a pasted key must never reach a
log).
"""

from __future__ import annotations

import difflib
import types
import typing

import yaml
from pydantic import BaseModel, ValidationError


def describe(error: ValidationError, root: type[BaseModel], text: str | None = None) -> str:
    """The problems of `error`, "; "-joined, each with its line in `text` when it is found."""
    node = _compose(text)
    issues = error.errors()
    meant = {
        (*issue["loc"][:-1], suggestion)
        for issue in issues
        if issue["type"] == "extra_forbidden"
        for suggestion in [_suggestion(issue["loc"], root)]
        if suggestion
    }
    problems = []
    for issue in issues:
        if issue["type"] == "missing" and tuple(issue["loc"]) in meant:
            continue  # the unknown key next to it is the fix
        line = _line(node, issue["loc"])
        problem = _problem(issue, root)
        problems.append(f"line {line}: {problem}" if line else problem)
    return "; ".join(problems)


def location(loc: tuple) -> str:
    """('domains', 0, 'max_seeds') -> 'domains[0].max_seeds'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(issue: dict, root: type[BaseModel]) -> str:
    message = issue["msg"].removeprefix("Value error, ")
    if issue["type"] == "literal_error" and isinstance(issue.get("input"), str):
        message += f" (got {issue['input'][:40]!r})"
    if issue["type"] == "extra_forbidden":
        suggestion = _suggestion(issue["loc"], root)
        if suggestion:
            message = f"unknown key, did you mean {suggestion!r}?"
        else:
            keys = _keys(issue["loc"][:-1], root)
            message = f"unknown key (valid keys: {', '.join(keys)})" if keys else "unknown key"
    # a model-level check is located at the model's key (top-level ones name their keys)
    where = location(issue["loc"])
    return f"{where}: {message}" if where else message


def _suggestion(loc: tuple, root: type[BaseModel]) -> str | None:
    """The valid key closest to the unknown key `loc[-1]`, when one is close."""
    if not loc or not isinstance(loc[-1], str):
        return None
    close = difflib.get_close_matches(loc[-1], _keys(loc[:-1], root), n=1, cutoff=0.6)
    return close[0] if close else None


def _keys(loc: tuple, root: type[BaseModel]) -> list[str]:
    """The field names of the model found at `loc` below `root` ([] when there is none)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list of models
        field = model.model_fields.get(part) if model else None
        model = _model_in(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `Domain`, `list[Domain]`, `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType, typing.Annotated):
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found:
                return found
    return None


def _compose(text: str | None) -> yaml.Node | None:
    if text is None:
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _line(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the key at `loc` (or of the deepest mapping or list on its way)."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = [(key, value) for key, value in node.value if key.value == part]
            if not found:
                break
            line = found[0][0].start_mark.line + 1
            node = found[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
