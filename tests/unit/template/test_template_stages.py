"""Stages, pins, the package's links and checkov skips: what the template is derived from and checked against."""

from __future__ import annotations

import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from infra import template
from tests.support.template_fragment import ROOT, tables_by_name


def test_generating_leaves_the_process_settings_alone() -> None:
    from chalicelib.settings import get_settings

    before = (os.environ.get("STAGE"), os.environ.get("TABLE_PREFIX"), get_settings())
    template.generate("prod")
    assert (os.environ.get("STAGE"), os.environ.get("TABLE_PREFIX"), get_settings()) == before


def test_stages_of_config_json_name_their_own_resources() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage in ("dev", "prod"):
        assert config["stages"][stage]["environment_variables"]["STAGE"] == stage
        fragment = template.generate(stage)
        assert all(name.startswith(f"keyport-{stage}-") for name in tables_by_name(fragment))
        assert fragment["Resources"][template.KEY_ALIAS]["Properties"]["AliasName"] == f"alias/keyport-{stage}"
    with pytest.raises(template.TemplateError, match="not defined"):
        template.generate("production")


def test_builtin_integrations_are_linked_into_the_package() -> None:
    link = ROOT / "vendor" / "integrations"
    assert link.is_symlink() and os.readlink(link) == "../integrations"
    assert (link / "github.json").is_file()


def test_runtime_requirements_are_pinned_to_the_tested_versions() -> None:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, _, version = requirement.partition("==")
        assert version, f"{requirement} is not pinned"
        assert metadata.version(name) == version, f"{name}: installed {metadata.version(name)}, pinned {version}"


def test_stages_whose_tables_nest_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".chalice").mkdir()
    stages = {
        "dev": {"environment_variables": {"STAGE": "dev"}},
        "dev-eu": {"environment_variables": {"STAGE": "dev-eu"}},  # keyport-dev-eu-* is inside keyport-dev-*
    }
    config = {"version": "2.0", "app_name": "keyport", "autogen_policy": False, "stages": stages}
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    with pytest.raises(template.TemplateError, match="dev-eu"):
        template.load_stage("dev", project_dir=tmp_path)


def test_every_policy_check_skipped_says_why(fragment: dict[str, Any]) -> None:
    skipped = {
        logical: resource["Metadata"]["checkov"]["skip"]
        for logical, resource in fragment["Resources"].items()
        if "checkov" in resource.get("Metadata", {})
    }
    assert {"APIHandler", "RestAPI", template.PUBLISH_BUCKET, template.DISTRIBUTION} <= set(skipped)
    for logical, skips in skipped.items():
        for skip in skips:
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical
            assert len(skip["comment"]) >= 40, (logical, skip["id"])  # a reason, not a shrug
    for table in tables_by_name(fragment).values():
        assert "Metadata" not in table  # the data itself passes every check
