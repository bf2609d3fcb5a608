"""Snippets ready for a template: the snippet and its highlighted code and resilience sample."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.safestring import SafeString

from instances.highlight import highlight
from instances.snippets import Snippet


@dataclass(frozen=True)
class SnippetPanel:
    snippet: Snippet
    code_html: SafeString
    resilience_html: SafeString | None

    @property
    def id(self) -> str:
        return self.snippet.id


def snippet_panels(snippets: Iterable[Snippet], *, secret: bool) -> list[SnippetPanel]:
    """`secret` says the code holds a revealed password (then nothing is cached)."""
    return [
        SnippetPanel(
            snippet=snippet,
            code_html=highlight(snippet.code, snippet.language, secret=secret),
            resilience_html=(
                highlight(snippet.resilience, snippet.language, secret=secret)
                if snippet.resilience
                else None
            ),
        )
        for snippet in snippets
    ]
