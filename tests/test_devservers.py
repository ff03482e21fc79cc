"""Which frontend dev server a project runs and on which port, read as the tool reads it."""

from __future__ import annotations

import json

import pytest

from devproxy.devservers import find
from devproxy.scaffold import detect, proxy_files


def package(*deps: str, **scripts: str) -> str:
    return json.dumps({"devDependencies": {dep: "^2" for dep in deps}, "scripts": scripts})


def angular(serve: dict[str, object]) -> str:
    return json.dumps({"projects": {"app": {"architect": {"serve": serve}}}})


P = pytest.param
PORTS = [
    # A flag in the script that starts the dev server, in each parser's spellings.
    P({"package.json": package("vite", dev="vite --port 4000")}, "Vite", 4000,
      '--port 4000 in the "dev" script', id="vite --port"),
    P({"package.json": package("vite", dev="vite --port=4002")}, "Vite", 4002,
      '--port=4002 in the "dev" script', id="vite --port="),
    P({"package.json": package("next", dev="next dev -p 4100")}, "Next.js", 4100,
      '-p 4100 in the "dev" script', id="next -p"),
    P({"package.json": package("next", dev="next dev --port 4100")}, "Next.js", 4100,
      '--port 4100', id="next --port"),
    P({"package.json": package("next", dev="next dev -p4100")}, "Next.js", 4100,
      '-p4100', id="next -pN"),
    P({"package.json": package("next", dev="next -p 4100")}, "Next.js", 4100,
      '-p 4100', id="bare next is next dev"),
    P({"package.json": package("@angular/core", start="ng serve --port 4400")}, "Angular",
      4400, '--port 4400 in the "start" script', id="ng serve --port"),
    P({"package.json": package("webpack-dev-server", start="webpack serve --port 8085")},
      "webpack", 8085, '--port 8085', id="webpack serve --port"),
    P({"package.json": package("webpack-dev-server", start="webpack-dev-server --port=8086")},
      "webpack", 8086, '--port=8086', id="webpack-dev-server --port="),
    P({"package.json": package("astro", dev="astro dev --port 4322")}, "Astro", 4322,
      '--port 4322', id="astro dev --port"),
    P({"package.json": package("nuxt", dev="nuxt dev --port 3100")}, "Nuxt", 3100,
      '--port 3100', id="nuxt --port"),
    P({"package.json": package("nuxt", dev="nuxi dev -p 3101")}, "Nuxt", 3101, '-p 3101',
      id="nuxi -p"),
    P({"package.json": package("nuxt", dev="nuxt dev -p=3102")}, "Nuxt", 3102, '-p=3102',
      id="nuxt -p= (mri reads it)"),
    # A variable the script sets, for the tools that read one.
    P({"package.json": package("react-scripts", start="PORT=4500 react-scripts start")},
      "Create React App", 4500, 'PORT=4500 in the "start" script', id="PORT= react-scripts"),
    P({"package.json": package("react-scripts", start="cross-env PORT=4501 craco start")},
      "Create React App", 4501, 'PORT=4501', id="cross-env PORT= craco"),
    P({"package.json": package("react-scripts", start="set PORT=4502&& react-scripts start")},
      "Create React App", 4502, 'PORT=4502', id="windows set PORT"),
    P({"package.json": package("next", dev="PORT=4101 next dev")}, "Next.js", 4101,
      'PORT=4101', id="PORT= next"),
    P({"package.json": package("next", dev="PORT=4101 next dev -p 4102")}, "Next.js", 4102,
      '-p 4102', id="next: the flag beats PORT"),
    P({"package.json": package("nuxt", dev="NUXT_PORT=3103 PORT=1 nuxt dev")}, "Nuxt", 3103,
      'NUXT_PORT=3103', id="nuxt: NUXT_PORT before PORT"),
    P({"package.json": package("@remix-run/dev", dev="PORT=3300 remix dev")}, "Remix", 3300,
      'PORT=3300', id="remix classic PORT="),
    P({"package.json": package("vite", dev="PORT=4000 vite")}, "Vite", 5173, "",
      id="vite does not read PORT"),
    # The tool's config file, when the script sets nothing.
    P({"package.json": package("vite", dev="vite"),
       "vite.config.ts": "export default { server: { port: 4999 } }"}, "Vite", 4999,
      "vite.config.ts (server.port)", id="vite.config"),
    P({"package.json": package("vite", dev="vite --port 4000"),
       "vite.config.ts": "export default { server: { port: 4999 } }"}, "Vite", 4000,
      "--port 4000", id="vite: the flag beats vite.config"),
    P({"package.json": package("webpack-dev-server", start="webpack serve --port 8085"),
       "webpack.config.js": "module.exports = { devServer: { port: 9000 } }"}, "webpack",
      8085, "--port 8085", id="webpack: the flag beats webpack.config"),
    P({"package.json": package("astro", dev="astro dev"),
       "astro.config.mjs": "export default defineConfig({ server: { port: 4323 } })"},
      "Astro", 4323, "astro.config.mjs (server.port)", id="astro.config"),
    P({"package.json": package("nuxt", dev="nuxt dev"),
       "nuxt.config.ts": "export default defineNuxtConfig({ devServer: { port: 3104 } })"},
      "Nuxt", 3104, "nuxt.config.ts (devServer.port)", id="nuxt.config"),
    P({"package.json": package("nuxt", dev="PORT=3105 nuxt dev"),
       "nuxt.config.ts": "export default defineNuxtConfig({ devServer: { port: 3104 } })"},
      "Nuxt", 3105, "PORT=3105", id="nuxt: PORT beats nuxt.config"),
    P({"package.json": package("@sveltejs/kit", "vite", dev="vite dev"),
       "vite.config.js": "export default { server: { port: 5200 } }"}, "SvelteKit", 5200,
      "vite.config.js (server.port)", id="sveltekit vite.config"),
    P({"package.json": package("@remix-run/dev", "vite", dev="remix vite:dev --port 5201")},
      "Remix", 5201, "--port 5201", id="remix vite:dev --port"),
    P({"package.json": package("@angular/core", start="ng serve"),
       "angular.json": angular({"options": {"port": 4401}})}, "Angular", 4401,
      "angular.json (projects.app.architect.serve.options.port)", id="angular.json"),
    P({"package.json": package("@angular/core", start="ng serve"),
       "angular.json": angular({"options": {"port": 4401}, "defaultConfiguration": "dev",
                                "configurations": {"dev": {"port": 4402}}})},
      "Angular", 4402, "serve.configurations.dev.port", id="angular.json configuration"),
    P({"package.json": package("@angular/core", start="ng serve -c other"),
       "angular.json": angular({"options": {"port": 4401}, "defaultConfiguration": "dev",
                                "configurations": {"dev": {"port": 4402}}})},
      "Angular", 4401, "serve.options.port", id="angular.json, ng serve -c"),
    P({"package.json": package("@angular/core", start="ng serve admin"),
       "angular.json": json.dumps({"defaultProject": "site", "projects": {
           "site": {"architect": {"serve": {"options": {"port": 4403}}}},
           "admin": {"targets": {"serve": {"options": {"port": 4404}}}}}})},
      "Angular", 4404, "projects.admin.targets.serve.options.port",
      id="angular.json, ng serve <project>"),
    P({"package.json": package("@angular/core", start="ng serve --port 4400"),
       "angular.json": angular({"options": {"port": 4401}})}, "Angular", 4400,
      "--port 4400", id="angular: the flag beats angular.json"),
    P({"package.json": package("@vue/cli-service", serve="vue-cli-service serve --port 8085"),
       "vue.config.js": "module.exports = { devServer: { port: 8090 } }"}, "Vue CLI", 8085,
      '--port 8085 in the "serve" script', id="vue-cli-service serve --port"),
    P({"package.json": package("@vue/cli-service", serve="PORT=8086 vue-cli-service serve"),
       "vue.config.js": "module.exports = { devServer: { port: 8090 } }"}, "Vue CLI", 8086,
      'PORT=8086', id="vue-cli-service: PORT beats vue.config"),
    P({"package.json": package("@vue/cli-service", serve="vue-cli-service serve"),
       "vue.config.js": "const { defineConfig } = require('@vue/cli-service')\n"
                        "module.exports = defineConfig({ devServer: { port: 8090 } })"},
      "Vue CLI", 8090, "vue.config.js (devServer.port)", id="vue.config.js"),
    # Create React App's .env files, in the order react-scripts loads them.
    P({"package.json": package("react-scripts", start="react-scripts start"),
       ".env": "PORT=4700\n"}, "Create React App", 4700, "PORT=4700 in .env", id=".env"),
    P({"package.json": package("react-scripts", start="react-scripts start"),
       ".env": "PORT=4700\n", ".env.development": "BROWSER=none\nPORT=4701 # dev\n"},
      "Create React App", 4701, "PORT=4701 in .env.development", id=".env.development"),
    P({"package.json": package("react-scripts", start="react-scripts start"),
       ".env.development": "PORT=4701\n", ".env.local": "export PORT='4702'\n"},
      "Create React App", 4702, "PORT=4702 in .env.local", id=".env.local"),
    P({"package.json": package("react-scripts", start="react-scripts start"),
       ".env.local": "PORT=4702\n", ".env.development.local": "PORT=4703\n"},
      "Create React App", 4703, "PORT=4703 in .env.development.local",
      id=".env.development.local"),
    P({"package.json": package("react-scripts", start="PORT=4500 react-scripts start"),
       ".env.development.local": "PORT=4703\n"}, "Create React App", 4500, "PORT=4500",
      id="cra: the shell beats .env"),
    # The script that starts the dev server, not one that builds or previews.
    P({"package.json": package("vite", build="vite build --port 1", preview="vite preview "
                               "--port 4173", watch="vite --port 4004")}, "Vite", 4004,
      '--port 4004 in the "watch" script', id="the script that serves"),
    P({"package.json": package("vite", dev="concurrently \"vite --port 4003\" \"node api\"")},
      "Vite", 4003, '--port 4003', id="inside concurrently"),
    P({"package.json": package("vite", dev="npm run build && npx vite --port 4005")}, "Vite",
      4005, '--port 4005', id="after &&, through npx"),
]


@pytest.mark.parametrize(("files", "name", "port", "source"), PORTS)
def test_the_port_is_read_where_the_tool_reads_it(files: dict[str, str], name: str,
                                                  port: int, source: str) -> None:
    found = find(files, "", json.loads(files["package.json"]))
    assert found is not None
    assert (found.tool.name, found.port) == (name, port)
    assert source in found.source if source else found.source == ""
    assert found.notes == ()
    # The comment init writes says where the port came from.
    detected = detect(files)
    assert detected.frontend is not None and detected.frontend.port == port
    assert (f"port from {found.source}" in detected.frontend.why) == bool(source)


@pytest.mark.parametrize(("script", "port", "note"), [
    P("vite -p 4001", 5173, "`-p 4001` in the \"dev\" script is not a port option of Vite; "
      "Vite takes --port 4001 or --port=4001", id="vite has no -p"),
    P("next dev -p=4100", 3000, "`-p=4100` in the \"dev\" script is not a port option of "
      "Next.js", id="commander reads -p=4100 as '=4100'"),
    P("vite --port $PORT", 5173, "`--port $PORT` in the \"dev\" script is not a port number "
      "devproxy can read: the / target uses 5173 (the default)", id="a variable"),
])
def test_a_port_flag_init_cannot_use_is_named(script: str, port: int, note: str) -> None:
    tool = "next" if script.startswith("next") else "vite"
    found = find({}, "", {"devDependencies": {tool: "1"}, "scripts": {"dev": script}})
    assert found is not None and found.port == port
    assert note in "\n".join(found.notes)


def test_remix_classic_says_its_dev_port_flag_is_not_the_apps() -> None:
    found = find({}, "", {"devDependencies": {"@remix-run/dev": "2"},
                          "scripts": {"dev": "remix dev --port 3001"}})
    assert found is not None and found.port == 3000
    assert "Remix takes its port from PORT" in found.notes[0]


def test_a_computed_config_port_is_named_and_the_default_written() -> None:
    files = {"package.json": package("vite", dev="vite"),
             "vite.config.js": "export default { server: { port: Number(process.env.PORT)"
                               " || 4800 } }"}
    detected = detect(files)
    assert detected.frontend is not None and detected.frontend.port == 5173
    assert detected.notes == ("vite.config.js: server.port: Number(process.env.PORT) || 4800 "
                              "is computed: wrote Vite's default port 5173; change the / "
                              "target if your dev server listens elsewhere",)


@pytest.mark.parametrize(("deps", "name", "port"), [
    P(("astro",), "Astro", 4321, id="astro"),
    P(("nuxt",), "Nuxt", 3000, id="nuxt"),
    P(("@sveltejs/kit", "vite"), "SvelteKit", 5173, id="sveltekit"),
    P(("@remix-run/dev", "@remix-run/serve"), "Remix", 3000, id="remix classic"),
    P(("@remix-run/dev", "vite"), "Remix", 5173, id="remix on vite"),
    P(("@vue/cli-service", "vue"), "Vue CLI", 8080, id="vue cli"),
])
def test_frameworks_and_their_default_ports(deps: tuple[str, ...], name: str,
                                            port: int) -> None:
    detected = detect({"package.json": package(*deps)})
    assert detected.frontend is not None
    assert (detected.frontend.name, detected.frontend.port) == (name, port)


def test_create_react_app_names_its_setup_proxy() -> None:
    found = find({"src/setupProxy.js": ""}, "", {"dependencies": {"react-scripts": "5"}})
    assert found is not None
    assert found.notes == ("src/setupProxy.js proxies in the dev server itself; devproxy "
                           "does not read it: add its routes here",)


@pytest.mark.parametrize(("files", "port", "note"), [
    P({"package.json": package("vite", dev='vite --port 4006 "'), }, 4006, "",
      id="an unclosed quote is read word by word"),
    P({"package.json": package("vite"),
       "vite.config.ts": "export default { server: serverOptions }"}, 5173,
      "vite.config.ts: server: serverOptions is computed", id="a computed server object"),
    P({"package.json": package("@angular/core"),
       "angular.json": json.dumps({"projects": {"app": {"architect": {"build": {}}}}})},
      4200, "", id="angular.json without a serve target"),
    P({"angular.json": angular({"options": {"port": 4405}})}, 4405, "",
      id="an Angular workspace without package.json"),
    # Digits Python's int() reads and Node's Number() does not: full-width ones.
    P({"package.json": package("vite", dev="vite --port \uff14\uff10\uff10\uff10")}, 5173,
      "is not a port number devproxy can read", id="full-width digits in a --port flag"),
    P({"package.json": package("webpack-dev-server", start="webpack serve"),
       "webpack.config.js": "module.exports = { devServer: { port: '\uff18\uff10\uff18\uff15' "
                            "} }"}, 8080, "devServer.port: \"\\uff18\\uff10\\uff18\\uff15\" is "
                                          "computed", id="full-width digits in a port string"),
])
def test_what_init_cannot_use_falls_back_to_the_default(files: dict[str, str], port: int,
                                                       note: str) -> None:
    detected = detect(files)
    assert detected.frontend is not None and detected.frontend.port == port
    assert note in "\n".join(detected.notes) if note else detected.notes == ()


@pytest.mark.parametrize("text", ["{not json", json.dumps({"dependencies": {"express": "5"}}),
                                  json.dumps(["vite"])])
def test_a_package_without_a_known_frontend_has_none(text: str) -> None:
    assert detect({"package.json": text}).frontend is None


@pytest.mark.parametrize(("package_json", "name", "port"), [
    P(package("next", "vite", "vitest", "@storybook/nextjs-vite", dev="next dev",
              storybook="storybook dev -p 6006", test="vitest"), "Next.js", 3000,
      id="next with vite for tests and storybook"),
    P(package("vite", "next", dev="next dev --port 3100", ui="vite --port 4000"), "Next.js",
      3100, id="the dev script beats another that launches vite"),
    P(package("@angular/core", "vite", start="ng serve"), "Angular", 4200,
      id="angular with a vite devDependency"),
    P(package("@angular/core", "vite"), "Angular", 4200,
      id="angular before vite when no script says"),
    P(package("@angular/core", "vite", dev="vite --port 4001", start="ng serve"), "Vite",
      4001, id="the script wins over the dependency order"),
    P(package("@remix-run/dev", "vite", dev="remix dev"), "Remix", 3000,
      id="remix dev is the classic compiler even with vite installed"),
])
def test_the_tool_a_script_launches_wins_over_the_dependency_order(
        package_json: str, name: str, port: int) -> None:
    found = find({}, "", json.loads(package_json))
    assert found is not None and (found.tool.name, found.port) == (name, port)


HOISTED = package("vite", dev="vite")  # a monorepo's root package.json lists the tool
FRONTEND_CONFIG = "export default defineConfig({ server: { port: 3001, proxy: { '/api': " \
                  "'http://localhost:8000' } } })"


@pytest.mark.parametrize(("files", "port", "proxy_file", "guessed"), [
    P({"package.json": package("vite", dev="cd frontend && vite"),
       "frontend/vite.config.ts": FRONTEND_CONFIG, "web/vite.config.ts": ""}, 3001,
      "frontend/vite.config.ts", False, id="cd frontend && vite"),
    P({"package.json": package("vite", dev="cd frontend && concurrently \"vite\" \"node a\""),
       "frontend/vite.config.ts": FRONTEND_CONFIG}, 3001, "frontend/vite.config.ts", False,
      id="cd, then a command in a command"),
    P({"package.json": package("vite", dev="vite --config frontend/vite.config.ts"),
       "frontend/vite.config.ts": FRONTEND_CONFIG, "web/vite.config.ts": ""}, 3001,
      "frontend/vite.config.ts", False, id="vite --config"),
    P({"package.json": package("vite", dev="npm --prefix frontend run dev"),
       "frontend/vite.config.ts": FRONTEND_CONFIG}, 3001, "frontend/vite.config.ts", True,
      id="the only subfolder with a config, guessed"),
    P({"package.json": HOISTED, "frontend/vite.config.ts": FRONTEND_CONFIG,
       "web/vite.config.js": "export default { server: { port: 3002 } }"}, 5173, "", False,
      id="two subfolders with one: no guess"),
    P({"package.json": HOISTED, "vite.config.ts": "export default {}",
       "frontend/vite.config.ts": FRONTEND_CONFIG}, 5173, "vite.config.ts", False,
      id="the package's own folder first"),
    P({"package.json": package("vite", dev="cd ../elsewhere && vite"),
       "frontend/vite.config.ts": FRONTEND_CONFIG}, 5173, "", False,
      id="cd out of the project: not followed, nothing guessed"),
])
def test_a_monorepos_dev_server_config_is_found_where_it_runs(
        files: dict[str, str], port: int, proxy_file: str, guessed: bool) -> None:
    found = find(files, "", json.loads(files["package.json"]))
    assert found is not None and (found.port, found.proxy_file) == (port, proxy_file)
    assert any(note.startswith("guessed that") for note in found.notes) == guessed
    detected = detect(files)
    assert detected.frontend is not None and detected.frontend.port == port
    if proxy_file == "frontend/vite.config.ts":
        assert detected.proxy is not None and [r.path for r in detected.proxy.routes] == [
            "/api"]


def test_a_config_named_by_flag_outside_the_usual_names_is_read_by_the_cli() -> None:
    files = {"package.json": package("vite", dev="vite -c config/vite.dev.ts")}
    assert proxy_files(files) == ("config/vite.dev.ts",)
    files["config/vite.dev.ts"] = "export default { server: { port: 3005 } }"
    detected = detect(files)
    assert detected.frontend is not None and detected.frontend.port == 3005


def test_create_react_app_after_cd_reads_the_env_files_where_it_runs() -> None:
    files = {"package.json": package("react-scripts", start="cd web && react-scripts start"),
             "web/.env": "PORT=4700\n", "web/src/setupProxy.js": ""}
    found = find(files, "", json.loads(files["package.json"]))
    assert found is not None and found.port == 4700
    assert found.notes[0].startswith("web/src/setupProxy.js proxies")
