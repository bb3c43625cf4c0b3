"""docker-compose.yaml, checked without a Docker engine: services, mounts, settings, health checks."""

from __future__ import annotations

import re

import yaml

from transition.locations import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
AIRFLOW = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
]


def test_every_service_of_the_official_file_and_a_mail_catcher():
    assert set(SERVICES) == {"postgres", "redis", "mailpit", "airflow-init", *AIRFLOW}


def test_long_running_services_have_health_checks_and_restart():
    for name, service in SERVICES.items():
        if name == "airflow-init":
            continue
        assert service["healthcheck"]["test"], name
        assert service.get("restart") == "always", name


def test_airflow_services_share_the_mounts_settings_and_order():
    for name in AIRFLOW + ["airflow-init"]:
        service = SERVICES[name]
        mounts = {m.split(":")[1] for m in service["volumes"]}
        assert {
            "/opt/airflow/dags",
            "/opt/airflow/plugins",
            "/opt/airflow/plan",
        } <= mounts, name
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["TRANSITION_CONFIG"].startswith("${TRANSITION_CONFIG")
        assert env["AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS"] == "false"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://airflow:${POSTGRES_PASSWORD}@postgres/"
        )
        assert service["env_file"] == [".env"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        if name != "airflow-init":
            assert (
                service["depends_on"]["airflow-init"]["condition"]
                == "service_completed_successfully"
            )
    assert SERVICES["airflow-worker"]["command"] == "celery worker"


def test_the_tuning_of_make_run_is_the_compose_files():
    """Scheduler and worker settings chosen for people waiting on each other (transition.local.standalone)."""
    from transition.local.standalone import TUNING

    for name in AIRFLOW + ["airflow-init"]:
        env = SERVICES[name]["environment"]
        assert {key: env.get(key) for key in TUNING} == TUNING, name


def test_mounted_folders_exist_and_the_plan_path_is_inside_them():
    for folder in ("dags", "plugins", "plan"):
        assert (REPO_ROOT / folder).is_dir()
    assert (REPO_ROOT / "plan" / "config.yaml").is_file()


def test_secrets_come_from_env_and_the_example_names_them_all():
    text = (REPO_ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    declared = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert used <= declared | {"HOSTNAME"}, used - declared
    for secret in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "POSTGRES_PASSWORD",
    ):
        assert re.search(rf"^{secret}=$", example, re.MULTILINE), (
            f"{secret} must be empty in .env.example"
        )
    assert "password" not in text.lower().replace("postgres_password", "").replace("passwords", "")
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


def locked(text: str) -> dict[str, str]:
    """name -> version of each requirement of a pip requirements text (comments skipped)."""
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;#\\]+)", text, re.MULTILINE)
    return {canonical(name): version for name, version in pins}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_is_airflow_3_3_2_with_the_readers_locked_with_hashes():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:3\.3\.2", dockerfile, re.MULTILINE)
    assert "pip install --no-cache-dir --require-hashes --no-deps -r /requirements-image.lock" in (
        dockerfile.replace("\\\n", " ")
    )
    assert "&& pip check" in dockerfile
    wanted = locked((REPO_ROOT / "requirements-image.txt").read_text())
    lock_text = (REPO_ROOT / "requirements-image.lock").read_text()
    lock = locked(lock_text)
    tested = locked((REPO_ROOT / "requirements.txt").read_text())
    assert {"openpyxl", "python-calamine"} <= set(wanted)
    for name, version in wanted.items():  # what the image adds is what make test runs with
        assert lock.get(name) == version, f"{name}: {lock.get(name)} locked, {version} wanted"
        assert tested.get(name, version) == version, f"{name} differs from requirements.txt"
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock_text.split("\n\n# WARNING")[0])
    for entry in entries:
        if re.match(r"[A-Za-z0-9]", entry):
            assert "--hash=sha256:" in entry, f"no hash: {entry.splitlines()[0]}"


def test_what_the_lock_leaves_out_comes_with_airflow():
    """The Dockerfile installs the lock with --no-deps: every dependency of a locked package is
    locked too, or one of Airflow's own (which the apache/airflow image has, at its constraints)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    lock = locked((REPO_ROOT / "requirements-image.lock").read_text())
    airflow_closure: set[str] = set()
    todo = ["apache-airflow"]
    while todo:
        name = todo.pop()
        if name in airflow_closure:
            continue
        airflow_closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    missing = []
    for name in lock:
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            dependency = canonical(requirement.name)
            if dependency not in lock and dependency not in airflow_closure:
                missing.append(f"{name} needs {dependency}")
    assert not missing, missing


def test_the_locked_hashes_are_pypis(tmp_path):
    """What docker build does first: pip downloads each locked file and checks its hash."""
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version=3.11",
            "--platform=manylinux_2_28_x86_64",  # the image's, and the older manylinux it runs
            "--platform=manylinux_2_17_x86_64",
            "--platform=manylinux2014_x86_64",
            "-d",
            str(tmp_path),
            "-r",
            str(REPO_ROOT / "requirements-image.lock"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {canonical(p.name.split("-")[0]) for p in tmp_path.iterdir()}
    assert names == set(locked((REPO_ROOT / "requirements-image.lock").read_text())), names


def test_the_mail_catcher_is_published_on_this_machine_only():
    """Caught e-mails hold links, names and plans: not for the whole network. Nothing else but Airflow's
    UI is published; PostgreSQL and Redis are reached inside the compose network only."""
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            if name == "airflow-apiserver":
                continue  # the UI people use
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert SERVICES["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]
    assert "ports" not in SERVICES["postgres"] and "ports" not in SERVICES["redis"]


def test_the_generated_passwords_file_is_private(tmp_path):
    """airflow-init's own script, run for real (as root it also chowns) with /opt/airflow in a temporary
    folder and a umask that would leave new files world-readable: the file is 0600, its folder 0700."""
    import os
    import stat
    import subprocess

    script = SERVICES["airflow-init"]["command"][1]
    lines = [line for line in script.splitlines() if not line.startswith("exec ")]
    text = (
        "\n".join(lines)
        .replace("/opt/airflow", str(tmp_path))
        .replace("${AIRFLOW_UID:-50000}", str(os.getuid()))
    )
    done = subprocess.run(
        ["bash", "-ec", "umask 022\n" + text], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    passwords = tmp_path / "passwords" / "passwords.json"
    assert passwords.read_text().strip() == "{}"
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    assert stat.S_IMODE(passwords.parent.stat().st_mode) == 0o700
    passwords.write_text('{"admin": "kept"}')
    passwords.chmod(
        0o644
    )  # left readable by an older compose file: made private again, content kept
    assert subprocess.run(["bash", "-ec", "umask 022\n" + text], timeout=60).returncode == 0
    assert (
        passwords.read_text() == '{"admin": "kept"}'
        and stat.S_IMODE(passwords.stat().st_mode) == 0o600
    )
