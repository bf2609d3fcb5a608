"""instances.escaping: hostile values round-trip through the real parsers Python has."""

from __future__ import annotations

import ast
import io
import json
import os
import shlex
import shutil
import string
import subprocess
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from dotenv import dotenv_values
from psycopg.conninfo import conninfo_to_dict

from instances import escaping
from tests.servers import HOSTILE_PASSWORD, unavailable
from tests.snippet_runs import node_modules


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        unavailable(f"{program} is not installed")
    return path


HOSTILE = [
    HOSTILE_PASSWORD,
    "",
    " ",
    "  lead and trail  ",
    string.punctuation,
    *string.punctuation,
    "'",
    "''",
    '"',
    "\\",
    "\\\\",
    "\\'",
    '\\"',
    "'\\''",
    "$HOME",
    "${HOME}",
    "\\${X}",
    "$(id)",
    "`id`",
    "<%= 1 %>",
    "<%%",
    "%>",
    "%20%",
    "#not a comment",
    "a #b",
    "key=value other=x",
    "-n",
    "--flag",
    "ü€ 日本 🐘",
    "\u00a0nbsp",
    "line\u2028sep\u2029par",
    "\ufeffbom",
    "e\u0301",  # combining accent
]
CONTROL = ["\n", "\r", "\t", "\x00", "\x1b[31m", "\x7f", "\x85", "a\nb"]
ESCAPERS = [
    escaping.uri_component,
    escaping.uri_query_value,
    escaping.shell_word,
    escaping.conninfo_value,
    escaping.yaml_double_quoted,
    escaping.rails_yaml,
    escaping.phpdotenv_value,
    escaping.dotenv_value,
    escaping.single_quoted_string,
    escaping.java_string,
    escaping.properties_value,
    escaping.spring_property,
    escaping.js_string,
    escaping.python_string,
    escaping.go_string,
    escaping.go_interpreted_string,
]


@pytest.mark.parametrize("escape", ESCAPERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", CONTROL, ids=repr)
def test_it_refuses_control_characters(escape, value):
    with pytest.raises(escaping.UnsafeValue):
        escape(value)


@pytest.mark.parametrize("value", HOSTILE)
def test_it_percent_encodes_uri_components(value):
    encoded = escaping.uri_component(value)
    assert set(encoded) <= set(string.ascii_letters + string.digits + "-._~%")
    assert unquote(encoded) == value
    url = urlsplit(f"postgresql://{encoded}:{encoded}@host:5432/{encoded}")
    assert (url.username, url.password) == (encoded, encoded)  # unquoted above: value
    assert (url.hostname, url.port) == ("host", 5432)


@pytest.mark.parametrize("value", HOSTILE)
def test_it_quotes_shell_words(value):
    assert shlex.split(f"cmd {escaping.shell_word(value)} next") == ["cmd", value, "next"]


def test_it_keeps_plain_shell_words_bare():
    assert escaping.shell_word("db.example.com") == "db.example.com"
    assert escaping.shell_word("a b") == "'a b'"
    assert escaping.shell_word("it's") == "'it'\\''s'"


def test_it_quotes_shell_words_for_real_bash():
    script = "; ".join(f"printf '%s\\0' {escaping.shell_word(v)}" for v in HOSTILE)
    done = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=10)
    assert done.stdout.decode().split("\0")[:-1] == HOSTILE


@pytest.mark.parametrize("value", HOSTILE)
def test_it_quotes_conninfo_values(value):
    conninfo = f"host=h password={escaping.conninfo_value(value)} dbname=d"
    assert conninfo_to_dict(conninfo) == {"host": "h", "password": value, "dbname": "d"}


@pytest.mark.parametrize("value", HOSTILE)
def test_it_writes_yaml_double_quoted_scalars(value):
    assert yaml.safe_load(f"key: {escaping.yaml_double_quoted(value)}\n") == {"key": value}


@pytest.mark.parametrize("value", HOSTILE)
def test_it_escapes_erb_before_yaml_for_rails(value):
    rendered = escaping.rails_yaml(value).replace("<%%", "<%")  # what ERB outputs
    assert yaml.safe_load(f"key: {rendered}\n") == {"key": value}


def test_it_doubles_erb_openers_only():
    assert escaping.erb_literal("a <%= x %> <%% %>") == "a <%%= x %> <%%% %>"


@pytest.mark.parametrize("value", [v for v in HOSTILE if "$" not in v])
def test_it_writes_phpdotenv_values_python_dotenv_reads_back(value):
    # python-dotenv shares phpdotenv's \" and \\ escapes; phpdotenv's \$ (a literal $ that
    # never starts ${NAME}) is checked with the real phpdotenv in test_snippets_clients.py.
    line = f"KEY={escaping.phpdotenv_value(value)}\n"
    assert dotenv_values(stream=io.StringIO(line), interpolate=False) == {"KEY": value}


def test_it_escapes_every_dollar_for_phpdotenv():
    assert escaping.phpdotenv_value("${X}$Y\\") == '"\\${X}\\$Y\\\\"'


def test_it_single_quotes_dotenv_values_and_refuses_quotes():
    assert escaping.dotenv_value("a${X}b$Y%24") == "'a${X}b$Y%24'"
    with pytest.raises(escaping.UnsafeValue):
        escaping.dotenv_value("it's")


def run_each(argv: list[str], values: list[str], tmp_path) -> list[str]:
    """Runs one program that prints the values it decoded, NUL-terminated, as UTF-8."""
    program = need(argv[0])
    done = subprocess.run(
        [program, *argv[1:]], capture_output=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    decoded = done.stdout.decode().split("\0")[:-1]
    assert len(decoded) == len(values)
    return decoded


def test_it_writes_php_and_ruby_single_quoted_strings(tmp_path):
    literals = [escaping.single_quoted_string(v) for v in HOSTILE]
    php = "<?php\n" + "".join(f'echo {lit}, "\\0";\n' for lit in literals)
    (tmp_path / "values.php").write_text(php)
    assert run_each(["php", "values.php"], HOSTILE, tmp_path) == HOSTILE
    ruby = "".join(f'print {lit}, "\\0"\n' for lit in literals)
    (tmp_path / "values.rb").write_text(ruby)
    assert run_each(["ruby", "values.rb"], HOSTILE, tmp_path) == HOSTILE


JAVA_DECODER = """
import java.io.FileInputStream;
import java.io.PrintStream;
import java.util.Properties;

public class Decode {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        for (String value : Literals.VALUES) out.print(value + "\\0");
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream("values.properties")) {
            props.load(in);  // ISO-8859-1, as Spring Boot reads application.properties
        }
        for (int i = 0; i < props.size(); i++) out.print(props.getProperty("k" + i) + "\\0");
    }
}
"""


def test_it_writes_java_literals_and_properties_values(tmp_path):
    literals = ",\n".join(escaping.java_string(v) for v in HOSTILE)
    (tmp_path / "Literals.java").write_text(
        f"class Literals {{ static final String[] VALUES = {{ {literals} }}; }}\n", "ascii"
    )
    (tmp_path / "Decode.java").write_text(JAVA_DECODER)
    lines = [f"k{i}={escaping.properties_value(v)}" for i, v in enumerate(HOSTILE)]
    offset = len(HOSTILE)
    lines += [f"k{offset + i}  =  {escaping.spring_property(v)}" for i, v in enumerate(HOSTILE)]
    (tmp_path / "values.properties").write_text("\n".join(lines) + "\n", "ascii")
    need("javac")
    run_each(["javac", "-encoding", "US-ASCII", "Literals.java", "Decode.java"], [], tmp_path)
    decoded = run_each(["java", "-cp", ".", "Decode"], HOSTILE * 3, tmp_path)
    assert decoded[:offset] == HOSTILE
    assert decoded[offset : 2 * offset] == HOSTILE
    # Spring Framework 6.2 reads \${ as a literal ${ when it resolves placeholders.
    assert decoded[2 * offset :] == [v.replace("${", "\\${") for v in HOSTILE]


def test_it_writes_dotenv_values_the_dotenv_package_reads_back(tmp_path):
    values = [v for v in HOSTILE if "'" not in v]
    env = "".join(f"K{i}={escaping.dotenv_value(v)}\n" for i, v in enumerate(values))
    (tmp_path / ".env").write_text(env)
    script = (
        "const v = require('dotenv').parse(require('fs').readFileSync('.env'));"
        "for (let i = 0; 'K' + i in v; i++) process.stdout.write(v['K' + i] + '\\0');"
    )
    node_path = node_modules()  # installs them when this test runs before the Node clients
    done = subprocess.run(
        [need("node"), "-e", script],
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "NODE_PATH": str(node_path)},
        check=True,
    )
    assert done.stdout.decode().split("\0")[:-1] == values


@pytest.mark.parametrize("value", HOSTILE)
def test_it_writes_javascript_string_literals(value):
    literal = escaping.js_string(value)
    assert json.loads(literal) == value
    assert "\u2028" not in literal and "\u2029" not in literal
    assert literal.startswith('"')


@pytest.mark.parametrize("value", HOSTILE)
def test_it_writes_python_string_literals(value):
    literal = escaping.python_string(value)
    assert literal.startswith('"')
    assert ast.literal_eval(literal) == value
    assert len(literal.splitlines()) <= 1


@pytest.mark.parametrize("value", HOSTILE)
def test_it_writes_go_string_literals(value):
    # A raw `...` string is its content; "..." uses \" \\ \uXXXX like Python's literals.
    # Go itself decodes the snippets' literals in test_snippets_clients.py.
    for literal in (escaping.go_string(value), escaping.go_interpreted_string(value)):
        decoded = literal[1:-1] if literal.startswith("`") else ast.literal_eval(literal)
        assert decoded == value
        assert len(literal.splitlines()) <= 1


def test_it_prefers_readable_go_literals():
    assert escaping.go_string("plain") == '"plain"'
    assert escaping.go_string('a"b\\c') == '`a"b\\c`'
    assert escaping.go_string('a`b"') == '"a`b\\""'
    assert escaping.go_string("\u2028") == '"\\u2028"'
