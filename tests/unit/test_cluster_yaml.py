"""Every cluster YAML passes Ray's own cluster-config validation and the project's policy: no Ray
port open to the world, the dashboard on 127.0.0.1, token auth, a head that runs no trials, the
image pinned to the installed Ray and Python, and a comment on every key."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
YAMLS = sorted(CLUSTER.glob("*.yaml"))
RAY_PORTS = {6379, 8265, 10001, 8076}


@pytest.fixture(params=YAMLS, ids=[p.name for p in YAMLS])
def path(request: pytest.FixtureRequest) -> Path:
    return request.param


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _commands(config: dict[str, Any], key: str) -> str:
    return "\n".join(config.get(key, []))


def test_there_is_a_gpu_and_a_local_cluster() -> None:
    assert {p.name for p in YAMLS} >= {"gpu.yaml", "local.yaml"}


def test_passes_rays_own_validation(path: Path) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(_load(path))))


def test_ray_rejects_a_typo_so_validation_can_fail(path: Path) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    broken = _load(path) | {"head_node_typo": "x"}
    with pytest.raises(Exception, match="head_node_typo"):
        validate_config(prepare_config(broken))


def test_dashboard_on_loopback_and_nothing_bound_to_all_interfaces(path: Path) -> None:
    config = _load(path)
    head = _commands(config, "head_start_ray_commands")
    assert "--dashboard-host=127.0.0.1" in head
    assert "0.0.0.0" not in head and "0.0.0.0" not in _commands(config, "worker_start_ray_commands")


def test_no_ray_port_open_to_the_world(path: Path) -> None:
    text = path.read_text()
    for node_type in _load(path).get("available_node_types", {}).values():
        for group in node_type.get("node_config", {}).get("SecurityGroupIds", []):
            pytest.fail(f"{path.name} pins security group {group}: check its rules by hand")
    rules = re.findall(r"FromPort:\s*(\d+).*?CidrIp:\s*0\.0\.0\.0/0", text, flags=re.S)
    assert not RAY_PORTS & {int(port) for port in rules}


def test_head_runs_no_trials(path: Path) -> None:
    config = _load(path)
    head_type = config.get("head_node_type")
    if head_type:  # cloud providers: the head's resources
        assert config["available_node_types"][head_type]["resources"] == {"CPU": 0}
    else:  # the local provider: ray start flags
        assert "--num-cpus=0" in _commands(config, "head_start_ray_commands")


def test_token_authentication_is_on(path: Path) -> None:
    text = path.read_text()
    assert "RAY_AUTH_MODE=token" in text
    assert _load(path)["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_the_project_is_shipped_and_installed_on_every_node(path: Path) -> None:
    config = _load(path)
    assert config["file_mounts"]["~/raytune-hp"] == "."
    setup = _commands(config, "setup_commands")
    assert "torch==2.13.0" in setup and "-e ~/raytune-hp" in setup


def test_gpu_cluster_image_is_pinned_to_this_ray_and_python() -> None:
    config = _load(CLUSTER / "gpu.yaml")
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert config["docker"]["image"] == f"rayproject/ray:{ray.__version__}-{python}-gpu"
    worker = config["available_node_types"]["ray.worker.gpu"]
    assert worker["min_workers"] == 0
    assert worker["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert config["provider"]["cache_stopped_nodes"] is False


def test_every_key_has_a_comment(path: Path) -> None:
    lines = path.read_text().splitlines()
    missing = []
    for number, line in enumerate(lines):
        key = re.match(r"^(\s*)([\w.~/-]+):", line)
        if not key or len(key.group(1)) > 6:
            continue  # keys nested deeper than a node type's own keys share their parent's note
        previous = next((p for p in reversed(lines[:number]) if p.strip()), "")
        if "#" not in line and not previous.strip().startswith("#"):
            missing.append(f"{number + 1}: {line.strip()}")
    assert not missing, f"{path.name}: keys without a comment: {missing}"
