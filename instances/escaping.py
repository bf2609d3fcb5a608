"""Escaping of values pasted into connection snippets, one function per target syntax.

Every function takes the raw value and returns text that the target's parser reads back as
exactly that value. Values with control characters (newline, tab, NUL, DEL...) are refused:
no snippet format carries them safely through a terminal paste or a one-line config entry.
"""

from __future__ import annotations

import json
import re
import unicodedata
from urllib.parse import quote

# What no snippet can carry; instances.validation refuses it in every stored text field.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
_CONNINFO_SAFE = re.compile(r"[\w@%+=:,./~-]+", re.ASCII)
# Characters some parsers take as line breaks although they are not ASCII controls.
_LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029"}


class UnsafeValue(ValueError):
    """The value cannot be written in a snippet (it holds a control character)."""


def check_value(value: str) -> str:
    if CONTROL_CHARACTER.search(value):
        raise UnsafeValue("value contains a control character (newline, tab, NUL...)")
    return value


def uri_component(value: str) -> str:
    """Percent-encoding for a URI user name, password or path segment (RFC 3986)."""
    return quote(check_value(value), safe="")


def uri_query_value(value: str) -> str:
    """Percent-encoding for a URI query value; ``/`` stays readable (file paths)."""
    return quote(check_value(value), safe="/")


def shell_word(value: str) -> str:
    """One POSIX shell word: bare when only safe characters, else single-quoted with each
    ``'`` written as ``'\\''``."""
    if _SHELL_SAFE.fullmatch(check_value(value)):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def conninfo_value(value: str) -> str:
    """A libpq ``key=value`` conninfo value: bare when only safe characters, else single
    quotes with ``\\'`` and ``\\\\``."""
    if _CONNINFO_SAFE.fullmatch(check_value(value)):
        return value
    escaped = check_value(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def yaml_double_quoted(value: str) -> str:
    """A YAML double-quoted scalar (YAML 1.1 and 1.2, PyYAML and Psych)."""
    escaped = check_value(value).replace("\\", "\\\\").replace('"', '\\"')
    for char, escape in _LINE_SEPARATORS.items():
        escaped = escaped.replace(char, escape)
    return f'"{escaped}"'


def erb_literal(text: str) -> str:
    """Text that ERB outputs unchanged: ``<%`` must be written ``<%%``."""
    return text.replace("<%", "<%%")


def rails_yaml(value: str) -> str:
    """A YAML double-quoted scalar inside a Rails ``database.yml`` (ERB runs first)."""
    return erb_literal(yaml_double_quoted(value))


def phpdotenv_value(value: str) -> str:
    """A double-quoted value for Laravel's ``.env`` (vlucas/phpdotenv 5).

    In double quotes phpdotenv takes ``\\"``, ``\\\\`` and ``\\$`` (a literal ``$``, never the
    start of ``${NAME}``) as escapes; every other character stands for itself. Single quotes
    are no option: they cannot hold ``'``.
    """
    escaped = check_value(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def dotenv_value(value: str) -> str:
    """A single-quoted value for a ``.env`` read by the dotenv package (16/17), which keeps
    everything between single quotes literally and expands nothing (``import 'dotenv/config'``
    in Prisma 7's ``prisma.config.ts``). Meant for connection URLs: percent-encoding leaves no
    ``'`` in them, and a ``'`` cannot be written inside single quotes.
    """
    if "'" in check_value(value):
        raise UnsafeValue("a dotenv value in single quotes cannot hold '; percent-encode it")
    return f"'{value}'"


def single_quoted_string(value: str) -> str:
    """A PHP or Ruby single-quoted string literal: only ``\'`` and ``\\`` are escapes, so
    ``$``, ``#{...}`` and every other character stand for themselves."""
    return "'" + check_value(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _java_unicode(char: str) -> str:
    """``\\uXXXX`` escapes of the UTF-16 code units of `char` (Java source and .properties)."""
    units = char.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def java_string(value: str) -> str:
    """A Java string literal that reads right whatever the source encoding: non-ASCII as
    ``\\uXXXX`` (javac turns those into characters before it lexes, so ``"`` and ``\\``
    are escaped the usual way and never written as ``\\u`` escapes)."""
    out = []
    for char in check_value(value):
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) > 0x7E:
            out.append(_java_unicode(char))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def properties_value(value: str) -> str:
    """A value for a ``java.util.Properties`` file (read as ISO-8859-1): ``\\`` doubled,
    non-ASCII as ``\\uXXXX``, a leading space as ``\\ `` (else skipped) and trailing
    spaces as ``\\u0020`` (Spring Boot trims the raw value)."""
    out = []
    for char in check_value(value):
        if char == "\\":
            out.append("\\\\")
        elif ord(char) > 0x7E:
            out.append(_java_unicode(char))
        else:
            out.append(char)
    text = "".join(out)
    stripped = text.rstrip(" ")
    text = stripped + "\\u0020" * (len(text) - len(stripped))
    return "\\" + text if text.startswith(" ") else text


def spring_property(value: str) -> str:
    """A Spring Boot ``application.properties`` value: Spring resolves ``${...}`` in values,
    and since Spring Framework 6.2 (Boot 3.4) reads ``\\${`` as a literal ``${``."""
    return properties_value(check_value(value).replace("${", "\\${"))


def js_string(value: str) -> str:
    """A JavaScript string literal (JSON syntax, also valid in pre-ES2019 engines)."""
    literal = json.dumps(check_value(value), ensure_ascii=False)
    for char, escape in _LINE_SEPARATORS.items():
        literal = literal.replace(char, escape)
    return literal


def python_string(value: str) -> str:
    """A Python string literal, always double-quoted, non-ASCII kept readable."""
    out = []
    for char in check_value(value):
        if char in '"\\':
            out.append("\\" + char)
        elif not char.isprintable():
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def go_string(value: str) -> str:
    """A Go string literal: "..." when nothing needs escaping, else a backtick raw string
    when possible, else an interpreted string escaped like strconv.Quote."""
    printable = all(_go_printable(c) for c in check_value(value))
    if printable and '"' not in value and "\\" not in value:
        return f'"{value}"'
    if printable and "`" not in value:
        return f"`{value}`"
    return go_interpreted_string(value)


def go_interpreted_string(value: str) -> str:
    """A Go interpreted ("...") string literal, escaped like strconv.Quote."""
    out = []
    for char in check_value(value):
        if char in '"\\':
            out.append("\\" + char)
        elif _go_printable(char):
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _go_printable(char: str) -> bool:
    # strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return char == " " or unicodedata.category(char)[0] in "LMNPS"
