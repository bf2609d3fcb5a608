"""Snippets ready for a template: the snippet and its highlighted code and resilience sample.

Highlighting is most of the Settings tab's time, and masked snippets of two instances differ
only where their name, host, user and database appear. So masked snippets are highlighted
once per instance *shape* with marker words in those places, and each instance's escaped
values are put where the markers are. The text always equals the instance's own snippet
(checked piece by piece, else it is highlighted on its own); only the colouring of a value
follows the marker's token.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache, partial

from django.utils.safestring import SafeString, mark_safe

from instances.highlight import highlight
from instances.models import Instance
from instances.snippets import Snippet, SnippetFile, build_snippets

MARKERS = {"name": "zq7name", "host": "zq7host", "username": "zq7user", "database": "zq7db"}
_SPLIT = re.compile(f"({'|'.join(MARKERS.values())})")
SHAPES_CACHED = 64


@dataclass(frozen=True)
class FilePanel:
    file: SnippetFile
    html: SafeString


@dataclass(frozen=True)
class SnippetPanel:
    snippet: Snippet
    code_html: SafeString
    resilience_html: SafeString | None
    # One per file of a snippet that needs several, the main one (code_html) last.
    files: tuple[FilePanel, ...] = ()

    @property
    def id(self) -> str:
        return self.snippet.id


def snippet_panels(snippets: Iterable[Snippet], *, secret: bool) -> list[SnippetPanel]:
    """`secret` says the code holds a revealed password (then nothing is cached)."""
    panels = []
    for snippet in snippets:
        code_html = highlight(snippet.code, snippet.language, secret=secret)
        panels.append(
            SnippetPanel(
                snippet=snippet,
                code_html=code_html,
                resilience_html=(
                    highlight(snippet.resilience, snippet.language, secret=secret)
                    if snippet.resilience
                    else None
                ),
                files=_file_panels(
                    snippet, code_html, lambda f: highlight(f.code, f.language, secret=secret)
                ),
            )
        )
    return panels


def _file_panels(
    snippet: Snippet, code_html: SafeString, render: Callable[[SnippetFile], SafeString]
) -> tuple[FilePanel, ...]:
    """Panels of the snippet's files; the main one (the last) reuses `code_html`."""
    *extra, main = snippet.files or (None,)
    if main is None:
        return ()
    return (*(FilePanel(file, render(file)) for file in extra), FilePanel(main, code_html))


def masked_panels(
    instance: Instance, snippets: Iterable[Snippet] | None = None
) -> list[SnippetPanel]:
    """Panels of the instance's masked snippets, highlighted by way of its shape's templates."""
    templates = _shape_templates(_shape(instance))
    panels = []
    for snippet in build_snippets(instance) if snippets is None else snippets:
        code_template, resilience_template, file_templates = templates.get(
            snippet.id, (None, None, {})
        )
        code_html = _fill(code_template, snippet.code, snippet.language)
        panels.append(
            SnippetPanel(
                snippet=snippet,
                code_html=code_html,
                resilience_html=(
                    _fill(resilience_template, snippet.resilience, snippet.language)
                    if snippet.resilience
                    else None
                ),
                files=_file_panels(snippet, code_html, partial(_fill_file, file_templates)),
            )
        )
    return panels


@dataclass(frozen=True)
class _Template:
    """Marker code split at the markers, and its highlighted HTML split the same way."""

    code_parts: list[str]
    html_parts: list[str]


def _shape(instance: Instance) -> tuple:
    return (
        instance.engine,
        instance.tier,
        instance.sslmode,
        instance.tls,
        bool(instance.ca_cert),
        instance.port,
        bool(instance.database),
    )


_Templates = tuple[_Template | None, _Template | None, dict[str, _Template | None]]


@lru_cache(maxsize=SHAPES_CACHED)
def _shape_templates(shape: tuple) -> dict[str, _Templates]:
    engine, tier, sslmode, tls, has_ca, port, has_database = shape
    stand_in = Instance(
        engine=engine,
        tier=tier,
        sslmode=sslmode,
        tls=tls,
        ca_cert="-" if has_ca else "",
        port=port,
        name=MARKERS["name"],
        host=MARKERS["host"],
        username=MARKERS["username"],
        database=MARKERS["database"] if has_database else "",
    )
    return {
        snippet.id: (
            _template(snippet.code, snippet.language),
            _template(snippet.resilience, snippet.language) if snippet.resilience else None,
            {f.filename: _template(f.code, f.language) for f in snippet.files[:-1]},
        )
        for snippet in build_snippets(stand_in)
    }


def _fill_file(templates: dict[str, _Template | None], file: SnippetFile) -> SafeString:
    return _fill(templates.get(file.filename), file.code, file.language)


def _template(code: str, language: str) -> _Template | None:
    code_parts = _SPLIT.split(code)
    html_parts = _SPLIT.split(highlight(code, language))
    if html_parts[1::2] != code_parts[1::2]:
        return None  # a marker was split across tokens: no template for this snippet
    return _Template(code_parts, html_parts)


def _fill(template: _Template | None, code: str, language: str) -> SafeString:
    """`code` highlighted: the template's HTML with `code`'s values in place of the markers."""
    values = _values(template.code_parts[0::2], code) if template else None
    if template is None or values is None:
        return highlight(code, language)
    pieces = [template.html_parts[0]]
    for value, html_literal in zip(values, template.html_parts[2::2], strict=True):
        pieces += [html.escape(value, quote=False), html_literal]
    return mark_safe("".join(pieces))  # noqa: S308 - highlighted HTML and escaped text


def _values(literals: list[str], code: str) -> list[str] | None:
    """The texts between `literals` in `code` (None if `code` is not literal, value, literal...)."""
    if len(literals) == 1:
        return [] if code == literals[0] else None
    first, *middle, last = literals
    if not code.startswith(first) or not code.endswith(last) or not all(middle):
        return None
    values, position = [], len(first)
    for literal in middle:
        found = code.find(literal, position)
        if found < 0:
            return None
        values.append(code[position:found])
        position = found + len(literal)
    end = len(code) - len(last)
    if end < position:
        return None
    values.append(code[position:end])
    return values
