"""The package registers as an Airflow provider and everything it lists imports."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow_querystatus


def test_entry_point_returns_provider_info() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_querystatus")]
    info = entry.load()()
    assert info["package-name"] == "airflow-querystatus"
    assert info["versions"] == [airflow_querystatus.__version__]
    for kind in ("hooks", "sensors", "triggers", "operators"):
        for group in info[kind]:
            for module in group["python-modules"]:
                importlib.import_module(module)


def airflow_cli(airflow_home: Path, *args: str) -> str:
    """What ``airflow <args>`` prints, in a fresh AIRFLOW_HOME."""
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        check=True,
        env={"AIRFLOW_HOME": str(airflow_home), "PATH": "/usr/bin:/bin"},
    ).stdout


def test_airflow_providers_list_shows_it(tmp_path) -> None:
    assert "airflow-querystatus" in airflow_cli(tmp_path, "providers", "list", "-o", "plain")


def test_every_integration_links_its_aws_api_reference() -> None:
    """Each service's integration points at the AWS API reference of its status operation,
    declared in the registry (``StatusSpec.doc_url``), not at a generic AWS page."""
    from airflow_querystatus.status import SERVICES, SPECS

    info = airflow_querystatus.get_provider_info()
    urls = {i["integration-name"]: i["external-doc-url"] for i in info["integrations"]}
    assert set(urls) == {service.integration for service in SERVICES.values()}
    assert len(set(urls.values())) == len(urls), urls
    for service in SERVICES.values():
        url = urls[service.integration]
        assert url.startswith("https://docs.aws.amazon.com/") and "/API_" in url, url
        assert url in {spec.doc_url for spec in SPECS.values() if spec.service == service.client}
    for spec in SPECS.values():
        camel = "".join(part.title() for part in spec.operation.split("_"))
        assert spec.doc_url and spec.doc_url.endswith(f"/API_{camel}.html"), (spec.key, spec.doc_url)
    for kind in ("hooks", "sensors", "triggers", "operators"):
        listed = {m for group in info[kind] for m in group["python-modules"]}
        assert listed == {f"airflow_querystatus.{kind}.{s.module}" for s in SERVICES.values()}


def test_the_provider_config_section_is_valid_and_airflow_reads_its_default(tmp_path) -> None:
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(airflow_querystatus.get_provider_info(), schema)
    out = airflow_cli(tmp_path, "config", "get-value", "querystatus", "prepared_status_calls")
    assert out.strip().splitlines()[-1] == "True"  # Airflow 3.0 logs plugin set-up lines first


def test_the_description_names_every_operation() -> None:
    """``airflow providers list`` shows the description: it names every registered operation."""
    from airflow_querystatus.status import SPECS

    description = airflow_querystatus.get_provider_info()["description"]
    for spec in SPECS.values():
        assert spec.title in description, f"the provider description does not name {spec.title}"


def test_no_option_was_added_in_a_version_after_this_one() -> None:
    """Each config option's ``version_added`` is this package's version or one the CHANGELOG
    released before it, never a later one."""
    from packaging.version import Version

    changelog = (Path(__file__).resolve().parent.parent / "CHANGELOG.md").read_text()
    released = {Version(v) for v in re.findall(r"^## (\d+\.\d+\.\d+)", changelog, re.M)}
    current = Version(airflow_querystatus.__version__)
    options = airflow_querystatus.get_provider_info()["config"]["querystatus"]["options"]
    for name, option in options.items():
        added = Version(option["version_added"])
        assert added <= current and added in released | {current}, (
            f"[querystatus] {name}: version_added {added} in a {current} package")


def test_the_readme_says_where_airflow_links_the_documentation() -> None:
    """Airflow takes a provider's documentation link from its distribution's ``Documentation``
    project URL only (``get_provider_info`` cannot set it): the README says there is none, which
    must stay true until one is declared (then the README says where it points)."""
    from importlib.metadata import distribution

    urls = distribution("airflow-querystatus").metadata.get_all("Project-URL") or []
    declared = [url for url in urls if url.split(",", 1)[0].strip().lower() == "documentation"]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    says_none = "package declares no `Documentation` project URL" in " ".join(readme.split())
    assert says_none != bool(declared), (declared, "README: say where Airflow links the documentation")
