"""Email templates: which tokens a template may use, and rendering them safely.

A template is checked twice. First its syntax tree must consist only of literal text and output
expressions `{{ object.field }}`, optionally through a few harmless filters
(`default("there")`, `upper`, ...): no statements (`for`, `set`, `include`, `macro`, ...), no calls,
no attribute walking beyond the listed fields, no subscripts. What is refused is refused when the
template is saved, naming the construct. Then it is rendered in Jinja2's
`ImmutableSandboxedEnvironment` with a context of plain dicts of strings, as a second wall.

A token with no value (an empty name, no company, no deal) is *missing* unless a `default(...)`
filter gives a fallback; `missing_tokens` lists them so that nothing is queued with a hole in it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The personalization tokens, by object (documented in docs/api.md, "Templates").
TOKENS: dict[str, tuple[str, ...]] = {
    "contact": ("first_name", "last_name", "name", "email"),
    "company": ("name",),
    "deal": ("name",),
    "sender": ("name", "email"),
}
TOKEN_NAMES: tuple[str, ...] = tuple(f"{obj}.{field}" for obj, fields in TOKENS.items() for field in fields)

# Filters that only transform a string; `default`/`d` is the fallback.
FALLBACK_FILTERS = frozenset({"default", "d"})
SAFE_FILTERS = FALLBACK_FILTERS | {"upper", "lower", "title", "capitalize", "trim"}

MAX_SOURCE_CHARS = 100_000  # one subject/text/html of a template as written
MAX_OUTPUT_CHARS = 400_000  # one rendered part: tokens cannot multiply text, but values can be long
MAX_FALLBACK_CHARS = 200


class TemplateRefused(ValueError):
    """The template uses something outside the token language; the message says what."""


class RenderTooLarge(ValueError):
    """The rendered text is larger than MAX_OUTPUT_CHARS."""


@dataclass(frozen=True)
class Tokens:
    """What a checked template uses: every token, and those used without a fallback."""

    used: frozenset[str]
    required: frozenset[str]


def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    # No loader: nothing can be included or imported; autoescape for HTML so a value is text.
    return ImmutableSandboxedEnvironment(autoescape=html, undefined=StrictUndefined, auto_reload=False)


_PLAIN = _environment(html=False)
_HTML = _environment(html=True)


def _token(node: nodes.Expr) -> str:
    if (
        isinstance(node, nodes.Getattr)
        and isinstance(node.node, nodes.Name)
        and node.node.name in TOKENS
        and node.attr in TOKENS[node.node.name]
    ):
        return f"{node.node.name}.{node.attr}"
    raise TemplateRefused(
        f"Only tokens can be used inside {{{{ }}}}: {', '.join(TOKEN_NAMES)}; found {_describe(node)}."
    )


def _describe(node: nodes.Node) -> str:
    if isinstance(node, nodes.Getattr):
        return f"“…{'.' + node.attr}”"
    if isinstance(node, nodes.Name):
        return f"“{node.name}”"
    if isinstance(node, nodes.Const):
        return "a literal value"
    return f"a {type(node).__name__.lower()} expression"


def _expression(node: nodes.Expr) -> Iterator[tuple[str, bool]]:
    """(token, has a fallback) for one `{{ ... }}` expression."""
    if isinstance(node, nodes.Filter):
        if node.name not in SAFE_FILTERS:
            raise TemplateRefused(
                f"The filter “{node.name}” cannot be used; allowed: {', '.join(sorted(SAFE_FILTERS))}."
            )
        if node.node is None or node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise TemplateRefused(f"The filter “{node.name}” takes at most one text argument.")
        if node.name in FALLBACK_FILTERS:
            if len(node.args) != 1 or not isinstance(node.args[0], nodes.Const):
                raise TemplateRefused('A fallback is written default("text").')
            fallback = node.args[0].value
            if not isinstance(fallback, str) or len(fallback) > MAX_FALLBACK_CHARS:
                raise TemplateRefused(f"A fallback is a text of at most {MAX_FALLBACK_CHARS} characters.")
            for token, _ in _expression(node.node):
                yield token, True
            return
        if node.args:
            raise TemplateRefused(f"The filter “{node.name}” takes no arguments.")
        yield from _expression(node.node)
        return
    yield _token(node), False


def check_template(source: str) -> Tokens:
    """The tokens a template uses, or TemplateRefused saying what it may not do."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateRefused(f"A template part is at most {MAX_SOURCE_CHARS} characters.")
    try:
        tree = _PLAIN.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(f"The template cannot be read (line {exc.lineno}): {exc.message}") from exc
    used: set[str] = set()
    required: set[str] = set()
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            raise TemplateRefused(
                f"Templates hold text and {{{{ tokens }}}} only; “{{% {type(statement).__name__.lower()} %}}” is not allowed."
            )
        for part in statement.nodes:
            if isinstance(part, nodes.TemplateData):
                continue
            for token, has_fallback in _expression(part):
                used.add(token)
                if not has_fallback:
                    required.add(token)
    return Tokens(frozenset(used), frozenset(required))


def missing_tokens(tokens: Tokens, values: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The required tokens that have no (non-empty) value, in a stable order."""
    have = {f"{obj}.{field}" for obj, fields in values.items() for field, value in fields.items() if value}
    return sorted(tokens.required - have)


def token_context(values: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Plain dicts of the non-empty listed values: an empty value is undefined, so a fallback applies."""
    return {
        obj: {
            field: str(values.get(obj, {}).get(field) or "")
            for field in fields
            if values.get(obj, {}).get(field)
        }
        for obj, fields in TOKENS.items()
    }


def render(source: str, values: Mapping[str, Mapping[str, str]], *, html: bool = False) -> str:
    """The rendered text. Checks the template first (TemplateRefused); a missing token raises
    TemplateRefused too (callers look at `missing_tokens` first to name it)."""
    check_template(source)
    env = _HTML if html else _PLAIN
    try:
        out = env.from_string(source).render(token_context(values))
    except (SecurityError, UndefinedError) as exc:
        raise TemplateRefused(f"The template cannot be rendered: {exc}") from exc
    if len(out) > MAX_OUTPUT_CHARS:
        raise RenderTooLarge(f"The rendered text is larger than {MAX_OUTPUT_CHARS} characters.")
    return out


def split_name(name: str) -> tuple[str, str]:
    """First and last name from a display name ("Zoë van Dijk" → "Zoë", "van Dijk")."""
    parts = name.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""
