"""A user's own code named by import path: resolved before Ray starts (a bad path is one clear
error), shipped to workers by value (they need not find the module), and what the experiment
then uses: the user's loader and builder, or the built-in ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raytune_hp.config import load_config
from raytune_hp.errors import ConfigError
from raytune_hp.user_code import UserCode, resolve

REPO = Path(__file__).resolve().parents[2]


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_path_resolves_to_its_function() -> None:
    build = resolve("examples.custom:build", "model.builder")
    assert build.__module__ == "examples.custom" and build.__name__ == "build"


def test_a_missing_module_is_one_line_naming_the_key_and_the_path() -> None:
    with pytest.raises(ConfigError) as error:
        resolve("no_such_package.mod:build", "model.builder")
    assert str(error.value).startswith(
        "model.builder must name an importable module:function; got 'no_such_package.mod:build', "
        "importing 'no_such_package.mod' failed: ModuleNotFoundError"
    )


def test_a_module_that_fails_on_import_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _module(tmp_path, monkeypatch, "broken_loader", "raise RuntimeError('no GPU here')\n")
    with pytest.raises(ConfigError, match=r"failed: RuntimeError: no GPU here$"):
        resolve("broken_loader:load", "data.loader")


def test_a_name_that_is_missing_or_not_callable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _module(tmp_path, monkeypatch, "half_done", "WIDTH = 3\n")
    for attribute in ("train", "WIDTH"):
        with pytest.raises(ConfigError) as error:
            resolve(f"half_done:{attribute}", "train.function")
        assert str(error.value) == (
            f"train.function must name a function in half_done; got 'half_done:{attribute}' "
            f"(no callable {attribute!r} there)"
        )


def test_the_function_reaches_a_process_that_cannot_import_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ray's workers may run where the user's module is not on the path (another node, another
    # folder): resolving registers the module to be pickled by value.
    from ray import cloudpickle

    source = "def scale(hp, shape, classes):\n    return hp['width'] * 2\n"
    _module(tmp_path, monkeypatch, "my_builder_mod", source)
    payload = cloudpickle.dumps(resolve("my_builder_mod:scale", "model.builder"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import sys, pickle\n"
        "function = pickle.loads(sys.stdin.buffer.read())\n"
        "print(function({'width': 21}, None, None))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, cwd=elsewhere, check=True
    )
    assert out.stdout.decode().strip() == "42"


def test_user_code_is_what_the_config_names_and_nothing_else() -> None:
    custom = UserCode.of(load_config(REPO / "configs" / "custom.yaml"))
    assert [f.__name__ for f in (custom.builder, custom.loader)] == ["build", "load"]
    assert custom.function is None and custom.loss is None
    function = UserCode.of(load_config(REPO / "configs" / "custom_function.yaml"))
    assert (function.builder, function.function.__name__) == (None, "train")  # type: ignore[union-attr]
    assert UserCode.of(load_config(REPO / "configs" / "quickstart.yaml")) == UserCode()


def test_the_data_and_model_are_the_users_or_the_built_in_ones() -> None:
    custom_config = load_config(REPO / "configs" / "custom.yaml")
    custom = UserCode.of(custom_config)
    data = custom.dataset(custom_config)
    assert data.num_outputs == 2 and len(data.x_train) == 960  # examples.custom's moons
    assert custom.model_builder(custom_config) is custom.builder

    builtin_config = load_config(REPO / "configs" / "quickstart.yaml")
    builtin = UserCode.of(builtin_config)
    digits = builtin.dataset(builtin_config)
    assert digits.input_shape == (1, 8, 8)
    model = builtin.model_builder(builtin_config)(
        {"kernel_size": 3, "num_kernels": 100, "num_layers": 1, "dropout": 0.5},
        digits.input_shape,
        digits.num_outputs,
    )
    assert sum(p.numel() for p in model.parameters()) == 17010  # the built-in CNN
