"""Template filters exposing instances.escaping to the snippet templates."""

from __future__ import annotations

from django import template

from instances import escaping

register = template.Library()

FILTERS = {
    "uri": escaping.uri_component,
    "sh": escaping.shell_word,
    "uri_query": escaping.uri_query_value,
    "conninfo": escaping.conninfo_value,
    "yaml": escaping.yaml_double_quoted,
    "rails_yaml": escaping.rails_yaml,
    "phpenv": escaping.phpdotenv_value,
    "dotenv": escaping.dotenv_value,
    "quoted": escaping.single_quoted_string,
    "java": escaping.java_string,
    "spring": escaping.spring_property,
    "js": escaping.js_string,
    "py": escaping.python_string,
    "go": escaping.go_string,
}

for _name, _function in FILTERS.items():
    register.filter(_name, lambda value, f=_function: f(str(value)), is_safe=False)


@register.filter
def indent(text: str, width: int) -> str:
    """Indent every non-empty line of a block by `width` spaces."""
    pad = " " * int(width)
    return "".join(pad + line if line.strip() else line for line in str(text).splitlines(True))
