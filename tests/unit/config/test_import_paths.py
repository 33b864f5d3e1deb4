"""Import paths (``package.module:function``) checked from the module's source, never imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from raytune_hp.config.import_paths import check_importable
from raytune_hp.errors import ConfigError

CONFIG = Path("exp.yaml")


def write_module(folder: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> Path:
    """A module ``name`` in ``folder``, importable from there (for this test only)."""
    path = folder / f"{name}.py"
    path.write_text(source)
    monkeypatch.syspath_prepend(str(folder))
    return path


def refusal(key: str, value: str) -> str:
    with pytest.raises(ConfigError) as info:
        check_importable(CONFIG, key, value)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "module"),
    [
        ("nosuch_module_rthp:build", "nosuch_module_rthp"),
        ("nosuch_module_rthp.sub:build", "nosuch_module_rthp.sub"),  # its package is missing
        ("json.nosuch_rthp:build", "json.nosuch_rthp"),
        ("json.decoder.x:build", "json.decoder.x"),  # its parent is a module, not a package
    ],
    ids=["module", "package", "submodule", "below-a-module"],
)
def test_a_missing_module_is_refused(value: str, module: str) -> None:
    assert refusal("model.builder", value) == (
        "exp.yaml: model.builder must name an importable module:function (run from the folder "
        f"that holds the module, or install it); got {value!r}, no module {module!r}"
    )


def test_a_module_without_the_function_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        "import os\n"
        "LIMIT = 3\n"
        "def build_model():\n"
        "    def build():\n"  # not at the top level
        "        return None\n"
        "    return build\n"
    )
    path = write_module(tmp_path, monkeypatch, "rthp_without_build", source)
    assert refusal("data.loader", "rthp_without_build:build") == (
        "exp.yaml: data.loader must name a function that module rthp_without_build defines; "
        f"got 'rthp_without_build:build', and {path} defines no 'build'"
    )


def test_a_module_with_a_syntax_error_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_module(tmp_path, monkeypatch, "rthp_broken", "def build(:\n    pass\n")
    message = refusal("train.function", "rthp_broken:build")
    assert message.startswith(
        "exp.yaml: train.function must name a module that imports; got 'rthp_broken:build', "
        f"whose source {path} has a syntax error at line 1: "
    )


@pytest.mark.parametrize(
    "source",
    [
        "def build():\n    return None\n",
        "async def build():\n    return None\n",
        "class build:\n    pass\n",
        "build = print\n",
        "build: object = print\n",
        "first, build = print, print\n",
        "from os.path import join as build\n",
        "import build\n",
        "if True:\n    def build():\n        return None\n",
        "try:\n    from nosuch import build\nexcept ImportError:\n    build = None\n",
        "for build in [print]:\n    pass\n",
        "with open(__file__) as build:\n    pass\n",
    ],
    ids=["def", "async-def", "class", "assignment", "annotated", "unpacked", "import-as",
         "import", "inside-if", "inside-try", "for-target", "with-target"],
)  # fmt: skip
def test_a_function_bound_at_the_top_level_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    write_module(tmp_path, monkeypatch, "rthp_with_build", source)
    check_importable(CONFIG, "model.builder", "rthp_with_build:build")


@pytest.mark.parametrize(
    "source",
    [
        "globals()['build'] = print\n",
        "exec('def build(): pass')\n",
        "import sys\nsetattr(sys.modules[__name__], 'build', print)\n",
        "vars()['build'] = print\n",
        "def make():\n    global build\n    build = print\nmake()\n",
        "from os.path import *\n",
        "def __getattr__(name):\n    return print\n",
    ],
    ids=["globals", "exec", "setattr", "vars", "global", "star-import", "module-getattr"],
)
def test_a_module_that_defines_names_dynamically_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    write_module(tmp_path, monkeypatch, "rthp_dynamic", source)
    check_importable(CONFIG, "model.builder", "rthp_dynamic:build")


def test_a_module_without_python_source_is_left_to_the_import() -> None:
    # A compiled module's names are known only once it is imported, when the run starts.
    check_importable(CONFIG, "model.builder", "math:no_such_function")


def test_the_module_is_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "raise SystemExit('imported')\ndef build():\n    return None\n"
    write_module(tmp_path, monkeypatch, "rthp_not_imported", source)
    check_importable(CONFIG, "model.builder", "rthp_not_imported:build")
    assert "rthp_not_imported" not in sys.modules


def test_the_packages_above_the_module_are_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding pkg.sub.module with importlib.util.find_spec would run pkg/__init__.py and
    # pkg/sub/__init__.py: here each would leave a file behind.
    planted = "open(__file__ + '.ran', 'w').close()\n"
    for folder in (tmp_path / "rthp_pkg", tmp_path / "rthp_pkg" / "sub"):
        folder.mkdir()
        (folder / "__init__.py").write_text(planted)
    (tmp_path / "rthp_pkg" / "sub" / "mod.py").write_text(planted + "def build():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    check_importable(CONFIG, "model.builder", "rthp_pkg.sub.mod:build")
    message = refusal("model.builder", "rthp_pkg.sub.mod:nothing")
    assert message.endswith("mod.py defines no 'nothing'"), message
    assert refusal("model.builder", "rthp_pkg.nosub.mod:build").endswith(
        "no module 'rthp_pkg.nosub.mod'"
    )
    assert not list(tmp_path.rglob("*.ran"))
    assert not [name for name in sys.modules if name.startswith("rthp_pkg")]


def test_a_namespace_package_is_looked_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rthp_ns" / "inner").mkdir(parents=True)
    (tmp_path / "rthp_ns" / "inner" / "mod.py").write_text("def build():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    check_importable(CONFIG, "model.builder", "rthp_ns.inner.mod:build")
    assert refusal("model.builder", "rthp_ns.inner.mod:other").endswith("defines no 'other'")
