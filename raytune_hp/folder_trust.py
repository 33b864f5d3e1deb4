"""Which files of an experiment folder are code, and whether this user's own runs wrote them.

An experiment folder is data, except for Ray Tune's own state, which Ray unpickles when an
experiment resumes (``Tuner.restore``), so that a planted file there runs its code. In each run
folder (the experiment's, a coarse-to-fine phase's, a ``more-<k>`` that grew it) these are
(:data:`PICKLED`): ``tuner.pkl``, ``experiment_state-*.json`` (JSON with pickled values),
``search_gen_state-*.json`` (a pickle despite its name), ``searcher-state-*.pkl`` and
``callback-states-*.pkl``, and any other ``*.pkl``. raytune-hp's own state is JSON, and ``report``
reads only JSON, CSV and event files.

The driver that writes Ray's state records the SHA-256 of each such file in
:data:`MANIFEST_FILE`, signed (HMAC-SHA256) with a key that never leaves the user's config folder
(``$XDG_CONFIG_HOME/raytune-hp/``, else ``~/.config/raytune-hp/``; made on first use, readable by
the user alone). It signs each time Ray snapshots its state (:class:`FolderSigner`), before
Ray copies the snapshot into the folder, and the manifest names both the new digest of each file
and the few before it (:data:`EARLIER_KEPT`): a driver killed, or a disk filled or turned
read-only, in the middle of a copy leaves a folder the same user resumes without a question.
Before anything is unpickled, a resume checks every run folder (:func:`check_resumable`) and
refuses, in one line, a pickle the manifest does not cover or that
changed, a missing manifest, or one signed by another key (another user, or another machine: a
folder fetched with ``aws s3 sync``), unless the user trusts the folder (``--trust-folder``).

Example:
    >>> key = b"k" * 32
    >>> text = manifest_text({"tuner.pkl": digest(b"state")}, key)
    >>> problem_with(text, {"tuner.pkl": b"state"}, key) is None
    True
    >>> problem_with(text, {"tuner.pkl": b"planted"}, key)
    'tuner.pkl changed after its run wrote it'
    >>> problem_with(text, {"tuner.pkl": b"state"}, b"other key" * 4)
    'signed_state.json is signed by another key (another user, or another machine)'
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ray.tune import Callback

from raytune_hp.early_stopping.persistent_asha import RUNGS_FILE, read_rungs
from raytune_hp.errors import RaytuneHPError
from raytune_hp.storage import BUDGET_FILE, ExperimentStore, phase_folders

MANIFEST_FILE = "signed_state.json"
PICKLED = (
    "tuner.pkl",
    "experiment_state-*.json",
    "search_gen_state-*.json",
    "searcher-state-*.pkl",
    "callback-states-*.pkl",
    "*.pkl",
)
"""The files of a run folder that Ray unpickles on resume (every ``*.pkl``, to be safe)."""
KEY_FILE = "folder-signing.key"
EARLIER_KEPT = 4
"""How many earlier digests of each file a manifest also accepts: the versions of it that an
upload of Ray's state may not have replaced yet (a copy cut off by a fault, or still running)."""
_VERSION = 2
_VERSIONS = (1, 2)  # version 1: no earlier digests


class UntrustedFolderError(RaytuneHPError):
    """A folder holds pickles this user's runs did not write, and the user did not trust it."""


def is_pickled(name: str) -> bool:
    """Whether the file ``name`` in a run folder is one Ray unpickles on resume.

    Example:
        >>> [is_pickled(n) for n in ("tuner.pkl", "experiment_state-2026.json", "runs.json")]
        [True, True, False]
    """
    return any(fnmatch.fnmatch(name, pattern) for pattern in PICKLED)


def config_dir() -> Path:
    """raytune-hp's folder in the user's config folder.

    Example:
        >>> config_dir().name
        'raytune-hp'
    """
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "raytune-hp"


def signing_key() -> bytes:
    """The user's signing key, made (32 random bytes, mode 0600) on first use."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / KEY_FILE
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    with os.fdopen(handle, "w") as file:
        file.write(key.hex() + "\n")
    return key


def digest(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex, as the manifest records it.

    Example:
        >>> digest(b"")[:16]
        'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"raytune-hp key id:" + key).hexdigest()[:16]


def _signature(
    files: Mapping[str, str],
    earlier: Mapping[str, Sequence[str]],
    key: bytes,
    version: int = _VERSION,
) -> str:
    signed: dict[str, Any] = {"version": version, "files": dict(files)}
    if version > 1:
        signed["earlier"] = {name: list(digests) for name, digests in earlier.items()}
    text = json.dumps(signed, sort_keys=True)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def manifest_text(
    files: Mapping[str, str], key: bytes, earlier: Mapping[str, Sequence[str]] | None = None
) -> str:
    """The manifest of ``files`` (name: SHA-256), which also accepts the ``earlier`` digests of
    each (name: digests), signed with ``key``: the module's example."""
    earlier = {name: list(digests) for name, digests in sorted((earlier or {}).items())}
    manifest = {
        "version": _VERSION,
        "key_id": _key_id(key),
        "files": dict(sorted(files.items())),
        "earlier": earlier,
        "signature": _signature(files, earlier, key),
    }
    return json.dumps(manifest, indent=1) + "\n"


def problem_with(
    manifest: str | bytes | None, pickles: Mapping[str, bytes], key: bytes
) -> str | None:
    """What keeps ``pickles`` (name: content) of a run folder from being trusted under its
    ``manifest`` (its text, or ``None`` when it has none), or ``None`` when nothing does."""
    if manifest is None:
        return f"{MANIFEST_FILE} is missing: no run of this user signed the folder's pickles"
    try:
        parsed = json.loads(manifest)
        files, signature = parsed["files"], parsed["signature"]
        earlier = parsed.get("earlier", {})
        valid = parsed["version"] in _VERSIONS and isinstance(signature, str)
        valid = valid and isinstance(files, dict) and isinstance(earlier, dict)
        valid = valid and all(isinstance(v, str) for v in [*files, *files.values(), *earlier])
        valid = valid and all(
            isinstance(d, list) and all(isinstance(v, str) for v in d) for d in earlier.values()
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        return f"{MANIFEST_FILE} is damaged"
    if parsed.get("key_id") != _key_id(key):
        return f"{MANIFEST_FILE} is signed by another key (another user, or another machine)"
    if not hmac.compare_digest(signature, _signature(files, earlier, key, parsed["version"])):
        return f"{MANIFEST_FILE} does not match its signature"
    for name, content in sorted(pickles.items()):
        if name not in files:
            return f"{name} is not in {MANIFEST_FILE}: no run of this user wrote it"
        found = digest(content)
        if not any(hmac.compare_digest(d, found) for d in [files[name], *earlier.get(name, [])]):
            return f"{name} changed after its run wrote it"
    return None


def run_folders(store: ExperimentStore) -> list[ExperimentStore]:
    """The folders of the experiment that hold a Ray Tune run of their own."""
    return [store, *(store.child(name) for name in phase_folders(store))]


def check_resumable(store: ExperimentStore, trust_folder: bool = False) -> None:
    """Checks, before anything of it is unpickled, that the experiment in ``store`` may be
    resumed: its raytune-hp state files are well-formed, and (unless ``trust_folder``) every
    pickle in each run folder is one this user's runs wrote and signed.

    Raises:
        UntrustedFolderError: a pickle is not covered by the signed manifest.
        StateFileError: a state file of raytune-hp's is damaged.

    Example:
        >>> check_resumable(ExperimentStore.of("runs", "copied-from-a-cluster"))  # doctest: +SKIP
        Traceback (most recent call last):
        ...
        UntrustedFolderError: --resume: .../runs/copied-from-a-cluster must hold only state ...
    """
    key = None if trust_folder else signing_key()
    for folder in run_folders(store):
        if folder.exists(RUNGS_FILE):
            read_rungs(folder.read_bytes(RUNGS_FILE), f"{folder.location}/{RUNGS_FILE}")
        if key is None:
            continue
        pickles = {name: folder.read_bytes(name) for name in folder.glob("*") if is_pickled(name)}
        if not pickles:
            continue
        manifest = folder.read_bytes(MANIFEST_FILE) if folder.exists(MANIFEST_FILE) else None
        problem = problem_with(manifest, pickles, key)
        if problem is not None:
            raise UntrustedFolderError(
                f"--resume: {folder.location} must hold only state this user's runs wrote, as "
                f"its pickles are code that resuming runs; got {problem} (pass --trust-folder "
                "to resume it if you trust where it came from)"
            )


class FolderSigner(Callback):  # type: ignore[misc]
    """Signs the run's pickles each time Ray Tune snapshots its state (see the module).

    Ray writes the experiment state and the searcher's into a staging folder on the driver,
    then asks each callback for its state (:meth:`get_state`), then copies the staging folder
    into the run folder, file by file, often in the background. Signing there, straight into
    the run folder, puts the manifest ahead of the files it covers; as it also accepts the
    digests signed before, a copy cut off part-way (a driver killed, a disk full or turned
    read-only) leaves files the manifest covers, whichever version of each it holds. When the
    manifest cannot be written, the snapshot fails (:class:`StorageWriteError`) before Ray
    copies anything: the folder keeps the state and manifest it had. ``tuner.pkl``, which Ray
    writes straight into the run folder, is read there. At the run's start and end (after
    Ray's last copy) it signs the run folder itself. Held in Ray's pickled state, it signs the
    folder it is resumed in (a relocatable store).

    Args:
        store: the run folder.
    """

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store
        self._staging: str | None = None
        self._trials: Sequence[Any] = ()  # Ray's own list of the run's trials, as it grows
        self._signed: dict[str, list[str]] = {}  # each file's digests signed, newest first

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled from Ray's state when a run resumes, perhaps written by an earlier
        # raytune-hp: only the folder is kept, the rest is this driver's to learn again.
        self.__init__(state["_store"])  # type: ignore[misc]

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        # Before the first snapshot: tuner.pkl of a new run, or what a resumed run was checked
        # against (or trusted with --trust-folder), now under this user's key.
        self._sign_stored()

    def on_experiment_end(self, trials: Sequence[Any], **info: Any) -> None:
        # After Ray's last snapshot has reached the run folder: a run that took no step (a
        # finished one, resumed) has signed no snapshot of its own.
        self._sign_stored()

    def on_step_begin(self, iteration: int, trials: Sequence[Any], **info: Any) -> None:
        # Ray's first step adds the first trials after this call and snapshots before the next:
        # the list it passes is the one it adds them to, read again in get_state.
        self._trials = trials
        self._find_staging()

    def _find_staging(self) -> None:
        trials = self._trials
        if self._staging is None and trials:
            # Every trial shares the run's storage context, hence its staging folder.
            self._staging = str(trials[0].storage.experiment_driver_staging_path)
            _drop_own_files(Path(self._staging))

    def get_state(self) -> dict[str, Any] | None:
        self._find_staging()  # the first snapshot comes in the step that added the first trial
        if self._staging is not None:
            staged = Path(self._staging)
            self._sign(
                {p.name: digest(p.read_bytes()) for p in staged.iterdir() if is_pickled(p.name)}
            )
        return None  # nothing to restore: pickled callback state would be one more pickle

    def _sign_stored(self) -> None:
        store = self._store
        names = [name for name in store.glob("*") if is_pickled(name)]
        self._sign({name: digest(store.read_bytes(name)) for name in names})

    def _sign(self, digests: dict[str, str]) -> None:
        """Writes the manifest of ``digests``: these files as they are now, and each file signed
        before (``tuner.pkl``, which Ray writes once) with its newest digest. It also accepts the
        :data:`EARLIER_KEPT` digests of each file signed before its newest.

        Raises:
            StorageWriteError: the run folder cannot be written.
        """
        for name, found in digests.items():
            history = self._signed.setdefault(name, [])
            if found in history:
                history.remove(found)
            history.insert(0, found)
            del history[EARLIER_KEPT + 1 :]
        current = {name: history[0] for name, history in self._signed.items()}
        earlier = {name: history[1:] for name, history in self._signed.items() if history[1:]}
        self._store.write_text(MANIFEST_FILE, manifest_text(current, signing_key(), earlier))


def _drop_own_files(staged: Path) -> None:
    """Removes raytune-hp's own files from Ray's staging folder, before its first upload.

    A resumed run's staging folder starts as a copy of the run folder's ``*.json`` and ``*.pkl``,
    and Ray uploads all of it at each snapshot: the copies of the files raytune-hp keeps up to
    date in the run folder itself (ASHA's rungs, the budget spent, the runs planned) would
    overwrite them with what they held when the run resumed.
    """
    from raytune_hp.experiment import RUNS_FILE

    # The manifest too: it is written straight into the run folder, ahead of Ray's copy.
    for name in (RUNGS_FILE, BUDGET_FILE, RUNS_FILE, MANIFEST_FILE):
        (staged / name).unlink(missing_ok=True)
