"""docker-compose.yml, Dockerfile, .env.example and docs/deploy.md, checked without Docker.

Docker does not run where the tests run, so the compose file is read as YAML (anchors and merge keys resolved
by the parser) and its `${VAR:-default}` strings are resolved by `interpolate` below, as docker compose would.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from prelabel.settings import Settings, SettingsError, documented

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

SETTINGS = [name for name, _, _ in documented()]
# Settings whose compose default differs from settings.py on purpose: inside the compose network.
COMPOSE_DEFAULTS = {
    "REDIS_URL": "redis://redis:6379/0",
    "LABEL_STUDIO_URL": "http://label-studio:8080",
    "PRELABEL_DATA_DIR": "/data/prelabel",
    "BASIC_AUTH_USER": "prelabel",  # Basic auth on by default wherever Prelabel's own files deploy it
}
REQUIRED = {"BASIC_AUTH_PASS"}  # settings compose refuses to start without (no default at all)
# Variables docker compose itself reads from .env (not interpolated in the file).
COMPOSE_OWN = {"COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"}
# What a filled-in .env gives: secrets that the compose file requires (`${VAR:?...}`).
SAMPLE_ENV = {"LABEL_STUDIO_USER_TOKEN": "0123456789abcdef0123456789abcdef01234567",
              "LABEL_STUDIO_PASSWORD": "secret-ls", "POSTGRES_PASSWORD": "secret-pg", "BASIC_AUTH_PASS": "secret-ba"}


# ---- a tiny compose interpolation ---------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset: docker compose refuses to start."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Resolve $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt},
    ${VAR+alt}, with nesting in the default (compose spec, "Interpolation")."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, end = 1, i + 2
            while depth:
                if end >= len(text):
                    raise ValueError(f"unclosed ${{ in {text!r}")
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            out.append(_expression(text[i + 2:end - 1], env))
            i = end
        elif match := NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _expression(body: str, env: dict[str, str]) -> str:
    match = NAME.match(body)
    assert match, f"bad interpolation ${{{body}}}"
    name, rest = match.group(), body[match.end():]
    value, is_set = env.get(name), name in env
    for operator in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(operator):
            word = rest[len(operator):]
            given = bool(value) if operator.startswith(":") else is_set
            if operator.endswith("-"):
                return value if given else interpolate(word, env)
            if operator.endswith("?"):
                if not given:
                    raise MissingVariable(f"{name}: {interpolate(word, env)}")
                return value
            return interpolate(word, env) if given else ""
    assert not rest, f"bad interpolation ${{{body}}}"
    return value or ""


def references(text: str) -> set[str]:
    """Every variable a string refers to, in defaults too ($$ is an escaped dollar, not a reference)."""
    return set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")))


def test_interpolate_helper():
    env = {"A": "a", "EMPTY": ""}
    assert interpolate("${A:-x}/${B:-x}/${EMPTY:-x}/${EMPTY-x}", env) == "a/x/x/"
    assert interpolate("${B:-${A}}-${B:-${C:-deep}}", env) == "a-deep"
    assert interpolate("$$A $A ${A:+alt} ${B:+alt}.", env) == "$A a alt ."
    with pytest.raises(MissingVariable, match="B: set B"):
        interpolate("${B:?set B}", env)
    assert references("${A:-${B}} $C $${D}") == {"A", "B", "C"}


# ---- reading the files ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict, env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment (mapping or list form), resolved against `env` (unresolved when None)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    resolved = {}
    for key, value in raw.items():
        if isinstance(value, str) and env is not None:
            value = interpolate(value, env)
        resolved[key] = value
    return resolved


def depends_on(service: dict) -> dict[str, str | None]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw)
    return {name: (spec or {}).get("condition") for name, spec in raw.items()}


def gpu_devices(service: dict) -> list[dict]:
    return (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []


def mounts(service: dict, env: dict[str, str]) -> dict[str, str]:
    """Container path -> source (volume name or host path) of a service's short-form volumes."""
    found = {}
    for entry in service.get("volumes") or []:
        source, target, *_ = interpolate(entry, env).split(":")
        found[target] = source
    return found


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def env_example_variables() -> set[str]:
    """Variables .env.example sets or shows (a commented-out `# VAR=value` counts: it documents VAR)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE))


# ---- structure -----------------------------------------------------------------------------------------------

def test_services_exist_and_no_obsolete_version_key(compose, services):
    assert "version" not in compose, "the obsolete top-level `version:` key is set (compose spec has none)"
    missing = {"postgres", "label-studio", "redis", "backend", "worker", "worker-cpu", "vllm"} - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for target, source in mounts(service, SAMPLE_ENV).items():
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts volume {source!r} at {target}, not under top-level volumes:"


def test_label_studio_image_is_1_23(services):
    image = interpolate(services["label-studio"]["image"], {})
    assert re.fullmatch(r"heartexlabs/label-studio:1\.23\.\d+", image), \
        f"label-studio image is {image!r}, expected heartexlabs/label-studio:1.23.x"


def test_label_studio_uses_the_postgres_service(services):
    ls = environment(services["label-studio"], SAMPLE_ENV)
    pg = environment(services["postgres"], SAMPLE_ENV)
    assert ls.get("DJANGO_DB") == "postgresql", f"label-studio DJANGO_DB is {ls.get('DJANGO_DB')!r}, not postgresql"
    assert ls.get("POSTGRE_HOST") == "postgres", f"label-studio POSTGRE_HOST is {ls.get('POSTGRE_HOST')!r}, " \
        "not the postgres service"
    for ls_name, pg_name in (("POSTGRE_NAME", "POSTGRES_DB"), ("POSTGRE_USER", "POSTGRES_USER"),
                             ("POSTGRE_PASSWORD", "POSTGRES_PASSWORD")):
        assert ls.get(ls_name) == pg.get(pg_name), \
            f"label-studio {ls_name}={ls.get(ls_name)!r} but postgres {pg_name}={pg.get(pg_name)!r}"
    assert str(ls.get("POSTGRE_PORT")) == "5432", f"label-studio POSTGRE_PORT is {ls.get('POSTGRE_PORT')!r}"
    assert depends_on(services["label-studio"]).get("postgres") == "service_healthy", \
        "label-studio must wait for postgres to be healthy (depends_on condition: service_healthy)"
    check = " ".join(services["postgres"].get("healthcheck", {}).get("test", []))
    assert "pg_isready" in check, f"postgres healthcheck does not run pg_isready: {check!r}"
    assert any(target == "/var/lib/postgresql/data" for target in mounts(services["postgres"], SAMPLE_ENV)), \
        "postgres keeps its data in no volume"


def test_label_studio_1_23_traps(services):
    ls = environment(services["label-studio"], SAMPLE_ENV)
    expected = {"ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LOCAL_FILES_SERVING_ENABLED": "true"}
    for name, value in expected.items():
        # A quoted string: unquoted YAML true/false would be a boolean, which compose may reject or rewrite.
        assert ls.get(name) == value, f"label-studio {name} is {ls.get(name)!r}, expected the string {value!r}"
    for name in ("LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN"):
        assert ls.get(name), f"label-studio {name} is not set"
    root = ls.get("LOCAL_FILES_DOCUMENT_ROOT")
    assert root and root in mounts(services["label-studio"], SAMPLE_ENV), \
        f"LOCAL_FILES_DOCUMENT_ROOT {root!r} is not a mounted directory in label-studio"
    assert any(str(port).endswith("8080") for port in services["label-studio"].get("ports", [])), \
        "label-studio does not publish port 8080"


def test_one_token_for_label_studio_and_the_backend(services):
    for name in ("backend", "worker"):
        key = environment(services[name], SAMPLE_ENV)["LABEL_STUDIO_API_KEY"]
        token = environment(services["label-studio"], SAMPLE_ENV)["LABEL_STUDIO_USER_TOKEN"]
        assert key == token == SAMPLE_ENV["LABEL_STUDIO_USER_TOKEN"], \
            f"{name} LABEL_STUDIO_API_KEY defaults to {key!r}, label-studio's LABEL_STUDIO_USER_TOKEN is {token!r}"
    overridden = environment(services["backend"], {**SAMPLE_ENV, "LABEL_STUDIO_API_KEY": "pat"})
    assert overridden["LABEL_STUDIO_API_KEY"] == "pat", "LABEL_STUDIO_API_KEY from .env does not override the default"
    # No token in .env: compose must refuse to start rather than run with a token printed in this repository.
    with pytest.raises(MissingVariable):
        environment(services["label-studio"], {})
    assert 5 < len(SAMPLE_ENV["LABEL_STUDIO_USER_TOKEN"]) <= 40  # what Label Studio accepts as a token


def test_the_backend_requires_basic_auth(services):
    """Basic auth on by default: a user, and no start without a password (docs/security.md)."""
    for name in ("backend", "worker", "worker-cpu"):
        env = environment(services[name], SAMPLE_ENV)
        assert env["BASIC_AUTH_USER"], f"{name}: BASIC_AUTH_USER has no default: the backend would run without auth"
        assert env["BASIC_AUTH_PASS"] == SAMPLE_ENV["BASIC_AUTH_PASS"]
        without = {k: v for k, v in SAMPLE_ENV.items() if k != "BASIC_AUTH_PASS"}
        with pytest.raises(MissingVariable, match="BASIC_AUTH_PASS"):
            environment(services[name], without)
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    comment = lines[next(i for i, line in enumerate(lines) if line.strip().startswith("BASIC_AUTH_USER:")) - 1]
    assert "Label Studio" in comment and "security" in comment, f"BASIC_AUTH_USER's comment says too little: {comment}"


def test_redis_keeps_its_queues(services):
    redis = services["redis"]
    command = redis.get("command")
    command = " ".join(command) if isinstance(command, list) else str(command)
    assert re.search(r"--appendonly\s+yes", command), f"redis runs without --appendonly yes: {command!r}"
    assert "/data" in mounts(redis, SAMPLE_ENV), "redis keeps /data in no volume"
    assert "ping" in " ".join(redis.get("healthcheck", {}).get("test", [])), "redis healthcheck does not ping"


def test_backend_and_workers_depend_on_redis(services):
    for name in ("backend", "worker", "worker-cpu"):
        assert "redis" in depends_on(services[name]), f"{name} does not depend on redis"


def test_backend_serves_and_worker_works(services):
    backend = services["backend"]
    command = " ".join(backend["command"]) if isinstance(backend["command"], list) else backend["command"]
    assert command.startswith("prelabel serve") and "--port 9090" in command, \
        f"backend command is {command!r}, expected prelabel serve ... --port 9090"
    assert backend.get("build"), "backend has no build: (the Dockerfile)"
    assert any(str(port).endswith("9090") for port in backend.get("ports", [])), "backend does not publish 9090"
    assert "/health" in " ".join(backend.get("healthcheck", {}).get("test", [])), "backend healthcheck is not /health"
    for name in ("worker", "worker-cpu"):
        command = services[name]["command"]
        command = " ".join(command) if isinstance(command, list) else command
        assert command.startswith("prelabel worker"), f"{name} command is {command!r}, expected prelabel worker"
        assert services[name]["image"] == backend["image"], f"{name} does not run the backend's image"


def test_worker_reserves_an_nvidia_gpu_and_the_cpu_worker_does_not(services):
    devices = gpu_devices(services["worker"])
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) and d.get("count") in (1, "all")
               for d in devices), f"worker has no nvidia GPU reservation (deploy.resources.reservations): {devices}"
    cpu = services["worker-cpu"]
    assert cpu.get("profiles") == ["cpu"], f"worker-cpu must be under profiles: [cpu], has {cpu.get('profiles')}"
    assert not gpu_devices(cpu), "worker-cpu reserves a GPU, so it cannot run where there is none"
    assert environment(cpu) == environment(services["worker"]), \
        "worker-cpu's environment differs from worker's: their model_version would differ"
    assert not services["worker"].get("profiles"), "the GPU worker must start by default (no profile)"


def test_vllm_only_under_its_profile(services):
    vllm = services["vllm"]
    assert vllm.get("profiles") == ["vllm"], f"vllm must be under profiles: [vllm], has {vllm.get('profiles')}"
    assert interpolate(vllm["image"], {}).startswith("vllm/vllm-openai:"), f"vllm image is {vllm['image']!r}"
    assert any(d.get("driver") == "nvidia" for d in gpu_devices(vllm)), "vllm has no nvidia GPU reservation"
    assert any(str(port).endswith("8000") for port in vllm.get("ports", [])), "vllm does not publish port 8000"
    command = interpolate(" ".join(vllm["command"]), {})
    assert "--model Qwen/Qwen2.5-VL" in command, f"vllm does not serve a Qwen2.5-VL model by default: {command!r}"
    for name, service in services.items():
        if not service.get("profiles"):
            assert "vllm" not in depends_on(service), f"{name} (no profile) depends on vllm, which is optional"


# ---- settings: set everywhere, documented everywhere -------------------------------------------------------------

@pytest.mark.parametrize("name", ["backend", "worker", "worker-cpu"])
def test_every_setting_is_set_with_its_default(services, name):
    env = environment(services[name])
    missing = [var for var in SETTINGS if var not in env]
    assert not missing, f"{name} environment lacks {missing}: add them to x-prelabel-env in docker-compose.yml"
    for var in SETTINGS:
        assert var in references(str(env[var])), \
            f"{name} {var}={env[var]!r} ignores .env: write it as ${{{var}:-default}}"
    resolved = environment(services[name], SAMPLE_ENV)
    try:
        compose_settings = Settings.from_env({var: resolved[var] for var in SETTINGS})
    except SettingsError as exc:
        pytest.fail(f"{name}: a default in docker-compose.yml is not a valid setting: {exc}")
    for spec in fields(Settings):
        var = spec.metadata["env"]
        if var in COMPOSE_DEFAULTS:
            assert resolved[var] == COMPOSE_DEFAULTS[var], \
                f"{name} {var} defaults to {resolved[var]!r}, expected {COMPOSE_DEFAULTS[var]!r} inside compose"
        elif var in REQUIRED:
            assert resolved[var] == SAMPLE_ENV[var], f"{name} {var} does not come from .env"
        elif var != "LABEL_STUDIO_API_KEY":  # defaults to the token given to label-studio (test above)
            assert getattr(compose_settings, spec.name) == spec.default, \
                f"{name} {var} defaults to {resolved[var]!r}, settings.py to {spec.default!r}"


def test_backend_and_workers_share_one_environment(services):
    assert environment(services["backend"]) == environment(services["worker"]), \
        "backend and worker environments differ: model_version (a hash of the settings) would differ"


def test_compose_defaults_point_at_the_services(services):
    env = environment(services["backend"], SAMPLE_ENV)
    assert env["REDIS_URL"].split("//")[1].split(":")[0] in services, f"REDIS_URL {env['REDIS_URL']} is no service"
    assert env["LABEL_STUDIO_URL"].split("//")[1].split(":")[0] in services, \
        f"LABEL_STUDIO_URL {env['LABEL_STUDIO_URL']} is no service"
    for name in ("backend", "worker"):
        volumes = mounts(services[name], SAMPLE_ENV)
        assert env["PRELABEL_DATA_DIR"] in volumes, f"{name}: PRELABEL_DATA_DIR {env['PRELABEL_DATA_DIR']} is no volume"
        assert "/app/vocab" in volumes, f"{name} does not mount ./vocab at /app/vocab (PRELABEL_VOCAB is relative)"
    worker_volumes = mounts(services["worker"], SAMPLE_ENV)
    for cache in ("HF_HOME", "TORCH_HOME", "XDG_CACHE_HOME"):
        assert any(env[cache].startswith(target) for target in worker_volumes), \
            f"worker {cache}={env.get(cache)!r} is in no volume: weights would be downloaded at every start"


def test_every_setting_has_a_comment_in_the_anchor():
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    start = lines.index("x-prelabel-env: &prelabel-env")
    previous = ""
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        key = re.match(r"  ([A-Z][A-Z0-9_]*):", line)
        if key:
            assert previous.strip().startswith("#"), f"x-prelabel-env {key.group(1)} has no comment line above it"
        if line.strip():
            previous = line


def test_every_setting_is_documented():
    docs = DEPLOY_DOC.read_text(encoding="utf-8")
    example = env_example_variables()
    missing = [var for var in SETTINGS if f"`{var}`" not in docs and var not in example]
    assert not missing, f"settings in neither docs/deploy.md (as `NAME`) nor .env.example: {missing}"


def test_every_compose_variable_is_documented(compose):
    used = set().union(*(references(text) for text in strings(compose)))
    example = env_example_variables()
    undocumented = sorted(used - set(SETTINGS) - example)
    assert not undocumented, f"docker-compose.yml uses variables that are no setting and not in .env.example: " \
        f"{undocumented}"
    stale = sorted(example - used - set(SETTINGS) - COMPOSE_OWN)
    assert not stale, f".env.example sets variables docker-compose.yml never uses: {stale}"


def test_env_example_explains_every_variable():
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"[A-Z][A-Z0-9_]*=", line):
            assert number and lines[number - 1].startswith("#"), \
                f".env.example:{number + 1}: {line.split('=')[0]} has no comment line above it"
    required = {var for text in strings(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))
                for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?", text)}
    assert required <= env_example_variables(), f"required variables missing from .env.example: {required}"


# ---- the image -----------------------------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [tuple([*line.split(None, 1), ""][:2]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile():
    instructions = dockerfile_instructions()
    by_name = {}
    for name, argument in instructions:
        by_name.setdefault(name.upper(), []).append(argument)
    assert by_name["FROM"] == ["python:3.11-slim"], f"Dockerfile FROM is {by_name['FROM']}, expected python:3.11-slim"
    cmd = json.loads(by_name["CMD"][-1])
    assert cmd[:2] == ["prelabel", "serve"] and "9090" in cmd, f"Dockerfile CMD is {cmd}, expected prelabel serve"
    users = by_name.get("USER", [])
    assert users and users[-1] not in ("root", "0"), f"the image runs as root (USER {users})"
    assert any("/health" in check for check in by_name.get("HEALTHCHECK", [])), "Dockerfile HEALTHCHECK is not /health"
    assert any(argument.startswith("vocab") for argument in by_name.get("COPY", [])), "Dockerfile does not copy vocab/"
    assert any("pip install" in run and "." in run.split() for run in by_name.get("RUN", [])), \
        "Dockerfile does not pip install the project"


def test_dockerignore_keeps_the_context_small():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    missing = {".git", ".venv", ".venvs-ls", "var", ".env", ".pytest_cache", "data"} - ignored
    assert not missing, f".dockerignore does not exclude {sorted(missing)}"
