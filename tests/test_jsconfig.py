"""jsconfig.find_value: a config's top-level keys, read from the object it exports, and the
literals there read as JavaScript reads them."""

from __future__ import annotations

import contextlib
import re

import pytest

from devproxy.importers import import_config
from devproxy.jsconfig import exported_element, find_value
from devproxy.jsliteral import Code

P = pytest.param
VITEST_FIRST = """import { defineConfig } from 'vite'
export default defineConfig({
  plugins: [react()],
  test: { environment: 'jsdom', server: { deps: { inline: ['x'] } } },
  server: { port: 3000, proxy: { '/api': 'http://localhost:8000' } },
})"""


@pytest.mark.parametrize("text", [
    P(VITEST_FIRST, id="defineConfig, after vitest's test.server"),
    P("module.exports = { test: { server: { port: 1 } }, server: { port: 3000 } }",
      id="module.exports"),
    P("export default { test: { server: {} }, server: { port: 3000 } } satisfies UserConfig",
      id="export default, typescript"),
    P("export default defineConfig(({ mode }) => ({ test: { server: {} },\n"
      "  server: { port: 3000 } }))", id="an arrow returning an object"),
    P("export default defineConfig(async ({ command }): Promise<UserConfig> => {\n"
      "  const env = loadEnv(mode, '/')\n  if (x) { return { server: { port: 1 } } }\n"
      "  return { test: { server: {} }, server: { port: 3000 } }\n})",
      id="an arrow with a block: its own return"),
    P("export default defineConfig(function () { return { server: { port: 3000 } } })",
      id="a function expression"),
    P("const shared = { server: { port: 1 } }\n"
      "const config: UserConfig = { test: { server: {} }, server: { port: 3000 } }\n"
      "export default config", id="a variable exported"),
    P("export default mergeConfig(base, { test: { server: {} }, server: { port: 3000 } })",
      id="a second argument"),
    P("export default defineConfig({ plugins: [{ name: 'x', async load(id) { return {\n"
      "  server: { port: 1 } } } }], server: { port: 3000 } })",
      id="a plugin's async method"),
])
def test_a_top_level_key_is_read_at_the_top_level(text: str) -> None:
    assert find_value(text, "server", "port") == 3000


@pytest.mark.parametrize(("text", "value"), [
    P("export default defineConfig({ test: { server: { port: 1 } } })", None,
      id="only nested: not there"),
    P("export default defineConfig(makeConfig())", None, id="a computed config"),
    P("export default { server: serverOptions }", None, id="a computed server object"),
    P("server: { port: 3000 }", 3000, id="a fragment without an export"),
])
def test_what_is_not_at_the_top_level_is_not_found(text: str, value: object) -> None:
    assert find_value(text, "server", "port") == value


def test_a_computed_top_level_value_is_code() -> None:
    assert find_value("export default { server: serverOptions }", "server") == \
        Code("serverOptions")


@pytest.mark.parametrize(("text", "index"), [
    P("module.exports = [{ name: 'client', devServer: { port: 3000 } }, { name: 'worker' }]",
      0, id="the first element"),
    P("module.exports = [{ target: 'webworker' }, { devServer: { port: 3000 } }]", 1,
      id="the first with a devServer"),
    P("const client = { devServer: { port: 3000 } };\nconst worker = { target: 'webworker' };"
      "\nmodule.exports = [worker, client];", 1, id="elements named by variables"),
    P("module.exports = (env) => [{ entry: './w' }, { devServer: { port: 3000 } },\n"
      "  { devServer: { port: 3001 } }]", 1, id="a function returning the array"),
    P("const configs: Configuration[] = [{ devServer: { port: 3000 } }];\n"
      "export default configs;", 0, id="a variable exported"),
])
def test_of_an_exported_array_the_first_element_with_the_key_is_read(text: str,
                                                                     index: int) -> None:
    # webpack's multi-compiler form: webpack-cli serves the devServer of the first compiler
    # that has one.
    assert find_value(text, "devServer", "port") == 3000
    element = exported_element(text, "devServer")
    assert element is not None and element.index == index


@pytest.mark.parametrize("text", [
    P("module.exports = { devServer: { port: 3000 } }", id="an object"),
    P("module.exports = [{ entry: './a' }, { entry: './b' }]", id="no element has one"),
])
def test_only_an_exported_array_has_an_element_read(text: str) -> None:
    assert exported_element(text, "devServer") is None


def test_init_from_reads_the_proxy_after_vitests_test_server() -> None:
    imported = import_config("vite.config.ts", VITEST_FIRST)
    assert [(r.path, r.target) for r in imported.routes] == [("/api",
                                                              "http://localhost:8000")]
    assert imported.frontend_port == 3000


def test_code_the_reader_cannot_read_elsewhere_in_the_config_does_not_matter() -> None:
    # Only server's value is read: a plugin written in syntax the reader lacks is skipped.
    text = ("export default defineConfig({ plugins: [{ name: 'x', *gen() { yield 1 } }],\n"
            "  server: { port: 3000 } })")
    assert find_value(text, "server", "port") == 3000


@pytest.mark.parametrize(("text", "where"), [
    ("export default {\n  server: { proxy: { '/api: 'x' } },\n}\n",
     "could not be read to its end: unterminated string from line 2, column 31"),  # after x
    ("export default {\n  server: {\n    proxy: { '/api': 'x' ] },\n  },\n}\n",
     "cannot read the proxy object: expected ',' or '}' at line 3, column 26"),  # the ]
])
def test_an_unreadable_proxy_is_placed_as_an_editor_shows_it(text: str, where: str) -> None:
    # An offset into the file told the user nothing they could find.
    with pytest.raises(ValueError, match=f"^vite.config.js: {re.escape(where)}$"):
        import_config("vite.config.js", text)


@pytest.mark.parametrize(("name", "text", "where"), [
    ("vite.config.js", "export default { server: { port: 4000, ",
     "the file ends at line 1, column 40, inside the object opened at line 1, column 26"),
    ("webpack.config.js", "module.exports = { devServer: { port: 4000, ",
     "the file ends at line 1, column 45, inside the object opened at line 1, column 31"),
    ("vue.config.js", "module.exports = {\n  devServer: { proxy: [",
     "the file ends at line 2, column 24, inside the array opened at line 2, column 23"),
    ("vite.config.ts", "export default { server: { proxy: ",
     "the file ends at line 1, column 35, where a value should be"),
])
def test_a_half_written_config_says_where_it_ends(name: str, text: str, where: str) -> None:
    # It raised IndexError: the reader took the end of the text for a quote.
    with pytest.raises(ValueError, match=f"^{re.escape(name)}: could not be read to its "
                                         f"end: {re.escape(where)}$"):
        import_config(name, text)


@pytest.mark.parametrize("name", ["vite.config.ts", "webpack.config.js", "vue.config.js"])
def test_a_config_cut_anywhere_is_read_or_refused_never_a_crash(name: str) -> None:
    key = "server" if name.startswith("vite") else "devServer"
    text = (f"export default defineConfig({{\n  plugins: [react()], // a 'comment'\n"
            f"  {key}: {{ port: 4000, proxy: {{ '/api': {{ target: `http://localhost:3000`,\n"
            f"    rewrite: p => p.replace(/^\\/api/, ''), ws: true }}, \"/x\": 'http://h:1' }},\n"
            f"  }}, list: [1, 'two', {{ three: 3 }}],\n}})\n")
    assert import_config(name, text).routes  # whole, it is read
    for end in range(len(text)):
        # NoProxy, Unreadable, or a proxy it cannot translate; nothing else.
        with contextlib.suppress(ValueError):
            import_config(name, text[:end])


@pytest.mark.parametrize(("literal", "value"), [
    P(r"'Jos\u00e9'", "José", id="\\uHHHH"),
    P(r'"a\x41b"', "aAb", id="\\xHH"),
    P(r"'\u{1F600}'", "\U0001F600", id="\\u{...}"),
    P(r"'\ud83d\ude00'", "\U0001F600", id="a surrogate pair of \\u escapes"),
    P(r"'\b\f\n\r\t\v\0'", "\b\f\n\r\t\v\0", id="single-character escapes"),
    P(r"'\q\'\"\\'", "q'\"\\", id="any other character stands for itself"),
    P("'a\\\nb\\\r\nc\\\u2028d'", "abcd", id="line continuations"),
    P("`caf\\u00e9 \\` \\${x}\r\n`", "café ` ${x}\n", id="a template without ${}"),
    P("`a${b}`", Code("`a${b}`"), id="a template with ${}"),
    P("`\\\\${b}`", Code("`\\\\${b}`"), id="${} after an escaped backslash"),
])
def test_string_literals_are_read_as_javascript_decodes_them(literal: str,
                                                             value: object) -> None:
    assert find_value(f"export default {{ a: {literal} }}", "a") == value


@pytest.mark.parametrize(("literal", "error"), [
    P(r"'\x4'", r"malformed escape \x4"),
    P(r"'\u00g0'", r"malformed escape \u00g0"),
    P(r"'\u{110000}'", r"malformed escape \u{110000}"),
    P(r"'\1'", r"the escape \1 is not read: a legacy octal one"),
    P(r"`\07`", r"the escape \07 is not read: a legacy octal one"),
    P(r"'\ud83d'", "half a surrogate pair"),
])
def test_a_malformed_escape_is_not_imported_never_guessed(literal: str, error: str) -> None:
    text = f"export default {{ server: {{ proxy: {{\n  '/api': {literal} }} }} }}"
    with pytest.raises(ValueError, match=re.escape(f"vite.config.js: cannot read the proxy "
                                                   f"object: {error}")) as raised:
        import_config("vite.config.js", text)
    assert str(raised.value).endswith("in the string at line 2, column 11")


def test_escaped_keys_and_values_are_imported_decoded() -> None:
    text = r"""export default { server: { proxy: {
      '/caf\u00e9': { target: 'http://localhost:3000', headers: { 'X-Dev': 'a\x41b' } },
    } } }"""
    [route] = import_config("vite.config.ts", text).routes
    assert (route.path, route.headers) == ("/café", (("X-Dev", "aAb"),))
