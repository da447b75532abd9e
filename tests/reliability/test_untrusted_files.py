"""Loading a file someone sent must not run their code nor write elsewhere.

* A static scan (``ast``, not grep) of every library source: no pickle-like
  module, every ``np.load`` passes ``allow_pickle=False``, every
  ``torch.load`` passes ``weights_only=True``, no ``eval``/``exec``, no
  ``trust_remote_code=True``, no ``safe_mode=False``. The scanner is
  checked on a source with one violation per line (it must find them all).
* Tampered mask artifacts: every single-bit flip, every truncation, wrong
  magic and version, and forged headers (valid checksum) that claim huge
  or inconsistent sizes are refused with a `ValueError` before anything is
  decoded (a bounded amount of memory is allocated).
* Pickles: a checkpoint or reference ``.npy`` holding an object array, and
  ``pytorch_model.bin`` files holding an object whose ``__reduce__`` runs
  a shell command, are refused; the command never runs. The payload is
  shown to be live with an unsafe loader (the oracle).
* A run directory's ``config.json`` and checkpoint are validated against
  their schemas before a run resumes: errors name the key.
* Paths: a shard index cannot point the loader outside the model folder; a
  resumed run refuses ``checkpoint``/``model`` links that would send its
  writes elsewhere; atomic writes replace a link, never its target.

Every scenario adds to the ``cases`` count of the reliability report.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import random
import shlex
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from tiny_bert import single_rows, write_csv

import smp_keras
import smpcore
from smp_keras.bert import from_pretrained
from smp_keras.pruning import checkpoint
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.config import PruneConfig
from smpcore import artifacts

LIBRARY_ROOTS = [
    Path(smpcore.__file__).parent,
    Path(smp_keras.__file__).parent,
]

# === 1. Static scan of the library sources ===

FORBIDDEN_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "cloudpickle",
    "dill",
    "joblib",
    "shelve",
    "marshal",
}
#: Calls that must pass a keyword with a given constant value.
REQUIRED_KEYWORDS = {
    "numpy.load": ("allow_pickle", False),
    "numpy.lib.format.read_array": ("allow_pickle", False),
    "numpy.lib.npyio.load": ("allow_pickle", False),
    "torch.load": ("weights_only", True),
    "torch.serialization.load": ("weights_only", True),
}
#: Calls that load code or pickles whatever their arguments.
FORBIDDEN_CALLS = {
    "eval",
    "exec",
    "builtins.eval",
    "builtins.exec",
    "pandas.read_pickle",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
}
#: Keyword values that turn a loader's safety off.
FORBIDDEN_KEYWORDS = {("trust_remote_code", True), ("safe_mode", False)}


class _Scanner(ast.NodeVisitor):
    """Finds unsafe loads in one module (import aliases resolved)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.aliases: dict[str, str] = {}
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}

    def _problem(self, node: ast.AST, text: str) -> None:
        self.problems.append(f"{self.filename}:{node.lineno}: {text}")

    def _check_module(self, node: ast.AST, module: str) -> None:
        if module.split(".")[0] in FORBIDDEN_MODULES:
            self._problem(node, f"imports {module}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._check_module(node, module)
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        self.generic_visit(node)

    def _dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = self._dotted(node.func) or ""
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if name in REQUIRED_KEYWORDS:
            self.checked[name] = self.checked.get(name, 0) + 1
            key, wanted = REQUIRED_KEYWORDS[name]
            value = keywords.get(key)
            if not (isinstance(value, ast.Constant) and value.value is wanted):
                self._problem(node, f"{name} without {key}={wanted}")
        if name in FORBIDDEN_CALLS:
            self._problem(node, f"calls {name}")
        if name.split(".")[0] in FORBIDDEN_MODULES:
            self._problem(node, f"calls {name}")
        if name in ("importlib.import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._check_module(node, first.value)
        for key, value in keywords.items():
            if isinstance(value, ast.Constant) and (
                (key, value.value) in FORBIDDEN_KEYWORDS
            ):
                self._problem(node, f"passes {key}={value.value}")
        self.generic_visit(node)


def scan(source: str, filename: str) -> _Scanner:
    """Scans one module's source."""
    scanner = _Scanner(filename)
    scanner.visit(ast.parse(source, filename=filename))
    return scanner


VIOLATIONS = """\
import pickle
import dill as d
from joblib import load
import numpy as np
import numpy
from numpy import load as npload
import torch
np.load("x.npy")
numpy.load("x.npy", allow_pickle=True)
npload("x.npy")
torch.load("x.bin")
torch.load("x.bin", weights_only=False)
eval("1")
exec("x = 1")
AutoTokenizer.from_pretrained("x", trust_remote_code=True)
keras.saving.load_model("m.keras", safe_mode=False)
importlib.import_module("cloudpickle")
__import__("pickle")
"""


def test_the_scanner_finds_every_kind_of_violation(reliability_counter):
    problems = scan(VIOLATIONS, "violations.py").problems
    lines = sorted({int(p.split(":")[1]) for p in problems})
    expected = [1, 2, 3] + list(range(8, 19))
    assert lines == expected, problems
    safe = scan(
        "import numpy as np\nimport torch\n"
        "np.load('x', allow_pickle=False)\n"
        "torch.load('x', weights_only=True)\nmodel.eval()\n",
        "safe.py",
    )
    assert safe.problems == []
    reliability_counter.add("cases", len(expected) + 1)


def test_library_sources_load_no_pickle_and_run_no_code(reliability_counter):
    sources = sorted(p for root in LIBRARY_ROOTS for p in root.rglob("*.py"))
    assert len(sources) > 30
    problems: list[str] = []
    checked: dict[str, int] = {}
    for path in sources:
        scanner = scan(path.read_text(encoding="utf-8"), str(path))
        problems += scanner.problems
        for name, count in scanner.checked.items():
            checked[name] = checked.get(name, 0) + count
    assert problems == []
    # The scan is not vacuous: the library's loaders were seen and checked.
    assert checked.get("numpy.load", 0) >= 2, checked
    assert checked.get("torch.load", 0) >= 1, checked
    reliability_counter.add("cases", len(sources))


# === 2. Tampered mask artifacts ===

ARTIFACT_ERRORS = (
    "truncated|bad magic|unsupported format version|checksum mismatch|"
    "header is inconsistent|MAX_ENTRIES"
)
#: Most bytes a refused artifact may make the reader allocate.
MEMORY_LIMIT = 4 * 2**20


@pytest.fixture(scope="module")
def artifact() -> bytes:
    """A valid artifact holding both codecs (packbits and Elias-Fano)."""
    rng = np.random.default_rng(0)
    masks = {
        "layer_0/query": rng.random((16, 16)) < 0.5,  # packbits
        "layer_0/key": rng.random((16, 16)) < 0.03,  # positions of ones
        "layer_1/output": rng.random((8, 32)) < 0.98,  # positions of zeros
    }
    data = smpcore.pack_masks(masks)
    codecs = {entry["codec"] for entry in _header(data)["masks"]}
    assert codecs == {"packbits", "elias-fano"}
    return data


def _header(data: bytes) -> dict:
    _, _, length = artifacts._PREFIX.unpack_from(data)
    start = artifacts._PREFIX.size
    return json.loads(data[start : start + length])


def _forge(
    header: dict | bytes,
    payload: bytes,
    *,
    magic: bytes = artifacts.MAGIC,
    version: int = artifacts.FORMAT_VERSION,
    header_len: int | None = None,
) -> bytes:
    """An artifact with a *valid* checksum (anyone can compute SHA-256)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    length = len(raw) if header_len is None else header_len
    body = artifacts._PREFIX.pack(magic, version, length) + raw + payload
    return body + hashlib.sha256(body).digest()


def _payload(data: bytes) -> bytes:
    _, _, length = artifacts._PREFIX.unpack_from(data)
    return data[artifacts._PREFIX.size + length : -32]


def _refused(data: bytes, match: str = ARTIFACT_ERRORS) -> str:
    """Checks that `data` is refused with a clear ValueError, using little
    memory; returns the message."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match) as error:
            smpcore.unpack_masks(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT + 4 * len(data), peak
    return str(error.value)


def test_the_artifact_round_trips(artifact):
    # The control: the untampered bytes load.
    assert len(smpcore.unpack_masks(artifact)) == 3


def test_every_bit_flip_is_refused(artifact, reliability_counter):
    cases = 0
    for index in range(len(artifact)):
        for bit in range(8):
            data = bytearray(artifact)
            data[index] ^= 1 << bit
            _refused(bytes(data))
            cases += 1
    reliability_counter.add("cases", cases)


def test_every_truncation_and_extension_is_refused(
    artifact, reliability_counter
):
    for length in range(len(artifact)):
        _refused(artifact[:length])
    _refused(artifact + b"\x00")
    _refused(artifact + artifact)
    reliability_counter.add("cases", len(artifact) + 2)


@pytest.mark.parametrize(
    ("magic", "version", "match"),
    [
        (b"\x89PNG\r\n\x1a\n", 1, "bad magic"),
        (b"SMPMASK\x00", 1, "bad magic"),
        (b"\x00" * 8, 1, "bad magic"),
        (artifacts.MAGIC, 0, "unsupported format version 0"),
        (artifacts.MAGIC, 2, "unsupported format version 2"),
        (artifacts.MAGIC, 2**32 - 1, "unsupported format version"),
    ],
)
def test_wrong_magic_or_version_is_refused(
    artifact, magic, version, match, reliability_counter
):
    header, payload = _header(artifact), _payload(artifact)
    _refused(_forge(header, payload, magic=magic, version=version), match)
    reliability_counter.add("cases")


def _entry(**fields) -> dict:
    entry = {
        "name": "w",
        "shape": [8],
        "kept": 0,
        "codec": "elias-fano",
        "offset": 0,
        "length": 0,
        "of": "ones",
        "count": 0,
        "low_bits": 0,
    }
    entry.update(fields)
    return entry


def _forged_headers() -> list[tuple[str, bytes, str]]:
    """`(case, artifact, expected message)`: valid checksums, bad headers."""
    huge = artifacts.MAX_ENTRIES + 1

    def one(entry: dict, payload: bytes = b"") -> bytes:
        header = {"payload_length": len(payload), "masks": [entry]}
        return _forge(header, payload)

    all_zero = {"of": "ones", "count": 0, "kept": 0}
    return [
        ("huge all-zero mask", one(_entry(shape=[huge], **all_zero)), "MAX"),
        (
            "huge all-one mask",
            one(_entry(shape=[huge], of="zeros", count=0, kept=huge)),
            "MAX",
        ),
        ("2**62 entries", one(_entry(shape=[2**31, 2**31])), "MAX"),
        ("10**30 entries", one(_entry(shape=[10**30])), "MAX"),
        (
            "many masks adding up",
            _forge(
                {
                    "payload_length": 0,
                    "masks": [
                        _entry(name=f"w{i}", shape=[2**30]) for i in range(5)
                    ],
                },
                b"",
            ),
            "MAX",
        ),
        ("negative size", one(_entry(shape=[-8])), "inconsistent"),
        ("float size", one(_entry(shape=[8.0])), "inconsistent"),
        ("count above size", one(_entry(count=9)), "inconsistent"),
        ("low bits 63", one(_entry(count=1, low_bits=63)), "inconsistent"),
        ("unknown codec", one(_entry(codec="zlib")), "inconsistent"),
        ("packbits too short", one(_entry(codec="packbits")), "inconsistent"),
        ("kept count wrong", one(_entry(kept=3)), "inconsistent"),
        ("empty name", one(_entry(name="")), "inconsistent"),
        ("length past payload", one(_entry(length=2**62)), "inconsistent"),
        (
            "header length past the end",
            _forge(b"{}", b"", header_len=2**32 - 1),
            "inconsistent",
        ),
        (
            "payload length wrong",
            _forge({"payload_length": 2**62, "masks": []}, b""),
            "inconsistent",
        ),
        ("header not JSON", _forge(b"\xff{not json", b""), "inconsistent"),
        ("header a list", _forge(b"[]", b""), "inconsistent"),
        (
            "duplicate names",
            _forge({"payload_length": 0, "masks": [_entry(), _entry()]}, b""),
            "inconsistent",
        ),
    ]


def test_forged_headers_are_refused_before_decoding(reliability_counter):
    cases = _forged_headers()
    for case, data, match in cases:
        message = _refused(data, match)
        assert message, case
    reliability_counter.add("cases", len(cases))


def test_a_tampered_artifact_file_is_refused(
    artifact, tmp_path, reliability_counter
):
    path = tmp_path / "masks.smpmask"
    data = bytearray(artifact)
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        smpcore.load_masks_file(path)
    path.write_bytes(artifact[:-1])
    with pytest.raises(ValueError, match="checksum mismatch|truncated"):
        smpcore.load_masks_file(path)
    reliability_counter.add("cases", 2)


# === 3. Pickles: checkpoints, reference masks, PyTorch weights ===


class _Payload:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def test_the_payload_is_live(tmp_path, reliability_counter):
    # The oracle: an unsafe loader runs the command.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
    reliability_counter.add("cases")


def _meta_bytes() -> np.ndarray:
    return np.frombuffer(json.dumps({"step": 1}).encode(), dtype=np.uint8)


def test_checkpoint_with_an_object_array_is_refused(
    tmp_path, reliability_counter
):
    marker = tmp_path / "ran"
    path = tmp_path / "checkpoint" / "state.npz"
    path.parent.mkdir()
    objects = np.array([_Payload(marker)], dtype=object)
    np.savez(path, var_0=objects, __meta__=_meta_bytes())
    with pytest.raises(ValueError, match="unreadable.*allow_pickle=False"):
        checkpoint.read_file(str(path))
    # Metadata that is an object array (a pickle), not JSON bytes.
    np.savez(path, var_0=np.zeros(2), __meta__=objects)
    with pytest.raises(ValueError, match="unreadable"):
        checkpoint.read_file(str(path))
    assert not marker.exists()
    reliability_counter.add("cases", 2)


def test_reference_masks_with_an_object_array_are_refused(
    tmp_path, reliability_counter
):
    marker = tmp_path / "ran"
    path = tmp_path / "masks.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        smpcore.load_reference_masks(path, {"w": (4,)})
    assert not marker.exists()
    reliability_counter.add("cases")


def _config_only(tiny_model: str, folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(os.path.join(tiny_model, "config.json"), folder)
    return folder


def _torch_pickles(marker: Path, folder: Path) -> dict[str, Path]:
    """Malicious `.bin` files: zip and legacy torch formats, a bare pickle."""
    torch = pytest.importorskip("torch")
    state = {"embeddings.word_embeddings.weight": _Payload(marker)}
    files = {}
    for name, kwargs in (("zip", {}), ("legacy", {"legacy": True})):
        path = folder / f"{name}.bin"
        torch.save(
            state,
            path,
            _use_new_zipfile_serialization=not kwargs.get("legacy", False),
        )
        files[name] = path
    files["pickle"] = folder / "plain.bin"
    files["pickle"].write_bytes(pickle.dumps(state))
    return files


def test_malicious_pytorch_weights_are_refused(
    tiny_model, tmp_path, reliability_counter
):
    marker = tmp_path / "ran"
    files = _torch_pickles(marker, tmp_path)
    for kind, source in files.items():
        folder = _config_only(tiny_model, tmp_path / f"model_{kind}")
        shutil.copy(source, folder / "pytorch_model.bin")
        with pytest.raises(ValueError, match="not a plain state dict"):
            from_pretrained(str(folder))
        assert not marker.exists(), kind
    # A sharded checkpoint whose shard is the pickle.
    folder = _config_only(tiny_model, tmp_path / "model_sharded")
    shutil.copy(files["zip"], folder / "part-1.bin")
    index = {"weight_map": {"embeddings.word_embeddings.weight": "part-1.bin"}}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="not a plain state dict"):
        from_pretrained(str(folder))
    assert not marker.exists()
    # Oracle: an unsafe torch.load of the same file runs the command.
    import torch

    torch.load(files["zip"], weights_only=False)
    assert marker.exists()
    reliability_counter.add("cases", len(files) + 1)


def test_safetensors_is_preferred_over_a_bin(
    tiny_model, tmp_path, reliability_counter
):
    marker = tmp_path / "ran"
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    shutil.copy(_torch_pickles(marker, tmp_path)["zip"], folder / "x.bin")
    os.replace(folder / "x.bin", folder / "pytorch_model.bin")
    backbone = from_pretrained(str(folder))
    assert backbone.num_layers == 2
    assert not marker.exists()
    reliability_counter.add("cases")


# === 4. Run directories: config.json and checkpoints ===


def _run_config(tmp_path: Path, **changes) -> PruneConfig:
    return PruneConfig(
        model="minilm", steps=4, output_dir=str(tmp_path / "run"), **changes
    )


def _write_run(config: PruneConfig) -> Path:
    folder = Path(config.run_dir())
    rd.start_run_dir(str(folder), config, False, {"total_steps": 4})
    return folder


def _tamper(data: dict, case: str) -> object:
    config = data["config"]
    if case == "missing key":
        del config["density"]
    elif case == "unknown key":
        config["densty"] = 0.3
    elif case == "string for a number":
        config["density"] = "0.5"
    elif case == "float for an int":
        config["steps"] = 4.0
    elif case == "string for a bool":
        config["overwrite"] = "no"
    elif case == "number for paths":
        config["data_files"] = 3
    elif case == "unknown method":
        config["method"] = "smp"
    elif case == "unknown top-level key":
        data["evil"] = 1
    elif case == "missing top-level key":
        del data["resolved"]
    elif case == "config a list":
        data["config"] = [1, 2]
    elif case == "document a list":
        return [data]
    return data


CONFIG_CASES = {
    "missing key": r"Missing: \['density'\]",
    "unknown key": r"unknown: \['densty'\]",
    "string for a number": r"`density` must be a real number",
    "float for an int": r"`steps` must be an int",
    "string for a bool": r"`overwrite` must be a bool",
    "number for paths": r"`data_files` must be a mapping",
    "unknown method": r"`method` must be one of",
    "unknown top-level key": r"unknown: \['evil'\]",
    "missing top-level key": r"Missing: \['resolved'\]",
    "config a list": r"`config` must be a JSON object",
    "document a list": r"must hold a JSON object",
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_a_tampered_run_config_is_refused_on_resume(
    case, tmp_path, reliability_counter
):
    from smp_keras.pruning.train import prune

    config = _run_config(tmp_path)
    folder = _write_run(config)
    path = folder / rd.CONFIG
    text = json.dumps(_tamper(json.loads(path.read_text()), case))
    path.write_text(text)
    with pytest.raises(rd.RunDirectoryError, match=CONFIG_CASES[case]):
        prune(config)
    assert path.read_text() == text  # nothing touched
    assert sorted(os.listdir(folder)) == [rd.CONFIG]
    reliability_counter.add("cases")


def test_a_run_config_that_is_not_json_is_refused(
    tmp_path, reliability_counter
):
    config = _run_config(tmp_path)
    folder = _write_run(config)
    (folder / rd.CONFIG).write_text('{"config": {"density": 0.5')
    with pytest.raises(rd.RunDirectoryError, match="not valid JSON"):
        rd.check_run_dir(config)
    # A teacher run's config is validated the same way.
    data = json.loads(json.dumps({"config": config.to_dict()}))
    (folder / rd.CONFIG).write_text(json.dumps(data))
    with pytest.raises(rd.RunDirectoryError, match=r"Missing: \['resolved'"):
        rd.run_config_of(str(folder))
    reliability_counter.add("cases", 2)


@pytest.fixture(scope="module")
def run_with_checkpoint(tiny_model, tmp_path_factory):
    """A loaded job and its run directory with a step-2 checkpoint written
    by the job's own `save` (no training: nothing to compile)."""
    from smp_keras.pruning.train import PruneJob

    folder = tmp_path_factory.mktemp("checkpointed")
    rng = random.Random(0)
    files = {
        split: write_csv(folder / f"{split}.csv", single_rows(rng, n))
        for split, n in (("train", 32), ("validation", 16))
    }
    config = PruneConfig(
        model=tiny_model,
        task="sst2",
        data_files=files,
        columns={"text": "review", "label": "stars"},
        steps=4,
        batch_size=8,
        max_length=16,
        density=0.5,
        eval_every=0,
        checkpoint_every=2,
        output_dir=str(folder / "run"),
    )
    job = PruneJob(config, quiet=True, jit_compile=None)
    job.load()
    run = config.run_dir()
    rd.start_run_dir(run, config, False, job.resolved())
    job.state.baselines = {"zero_shot": {"accuracy": 0.5}, "magnitude": None}
    job.state.baselines["majority"] = {"accuracy": 0.5}
    job.save(run, 2)
    return config, job


def _tampered_checkpoints(arrays: dict, meta: dict):
    """`(case, arrays, meta, expected message)`."""
    first = sorted(name for name in arrays if name.startswith("var_"))[0]
    wrong_shape = {**arrays, first: np.zeros((3, 5), np.float32)}
    strings = {**arrays, first: np.array(["a", "b"])}
    missing = {k: v for k, v in arrays.items() if k != "opt_0"}
    extra = {**arrays, "extra": np.zeros(2)}
    return [
        ("wrong shape", wrong_shape, meta, f"array '{first}' is"),
        ("strings", strings, meta, f"array '{first}' is"),
        ("missing array", missing, meta, "array 'opt_0' missing"),
        ("unknown array", extra, meta, "unknown array 'extra'"),
        ("step too far", arrays, {**meta, "step": 99}, "`step` must be"),
        ("step a string", arrays, {**meta, "step": "2"}, "`step` must be"),
        ("baselines wrong", arrays, {**meta, "baselines": []}, "`baselines`"),
        ("log wrong", arrays, {**meta, "log": [1]}, "`log` must be"),
        ("curve wrong", arrays, {**meta, "curve": {}}, "`curve` must be"),
    ]


def test_a_tampered_checkpoint_is_refused(
    run_with_checkpoint, reliability_counter
):
    from smp_keras.pruning.train import prune

    config, job = run_with_checkpoint
    folder = config.run_dir()
    path = os.path.join(folder, rd.CHECKPOINT)
    original = Path(path).read_bytes()
    arrays, meta = checkpoint.read_file(path)
    assert job.restore(folder) == 2  # the control: the original loads
    cases = _tampered_checkpoints(arrays, meta)
    for case, bad_arrays, bad_meta, match in cases:
        checkpoint.write_file(path, bad_arrays, bad_meta)
        with pytest.raises(rd.RunDirectoryError, match=match):
            job.restore(folder)
            pytest.fail(f"a tampered checkpoint was accepted: {case}")
    # Through the public entry point (a resume): nothing else is written.
    before = sorted(os.listdir(folder))
    with pytest.raises(rd.RunDirectoryError, match="`curve` must be"):
        prune(config, quiet=True, jit_compile=None)
    assert sorted(os.listdir(folder)) == before
    Path(path).write_bytes(original)
    reliability_counter.add("cases", len(cases) + 1)


# === 5. Paths from files cannot leave their folder ===


@pytest.mark.parametrize(
    "shard",
    ["../outside/model.safetensors", "ABSOLUTE", "sub/../../x.safetensors"],
)
@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_a_shard_index_cannot_point_outside_the_model_folder(
    shard, kind, tiny_model, tmp_path, reliability_counter
):
    outside = tmp_path / "outside"
    outside.mkdir()
    # A valid weight file outside: without the check it would be read.
    shutil.copy(Path(tiny_model) / "model.safetensors", outside)
    if shard == "ABSOLUTE":
        shard = str(outside / "model.safetensors")
    folder = _config_only(tiny_model, tmp_path / "model")
    index = {"weight_map": {"embeddings.word_embeddings.weight": shard}}
    name = {
        "safetensors": "model.safetensors.index.json",
        "bin": "pytorch_model.bin.index.json",
    }[kind]
    (folder / name).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="outside its folder"):
        from_pretrained(str(folder))
    reliability_counter.add("cases")


@pytest.mark.parametrize("name", ["checkpoint", rd.MODEL])
def test_a_resumed_run_does_not_follow_links(
    name, tmp_path, reliability_counter
):
    config = _run_config(tmp_path)
    folder = _write_run(config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    os.symlink(elsewhere, folder / name)
    with pytest.raises(rd.RunDirectoryError, match="not a link"):
        rd.check_run_dir(config)
    (folder / name).unlink()
    (folder / name).write_text("a file")
    with pytest.raises(rd.RunDirectoryError, match="not a link or a file"):
        rd.check_run_dir(config)
    assert os.listdir(elsewhere) == ["keep.txt"]
    reliability_counter.add("cases", 2)


def test_atomic_writes_replace_a_link_not_its_target(
    tmp_path, reliability_counter
):
    target = tmp_path / "precious.txt"
    target.write_text("mine")
    folder = tmp_path / "run"
    folder.mkdir()
    writers = {
        rd.METRICS: lambda p: rd.write_json(p, {"a": 1}),
        rd.MASKS: lambda p: smpcore.save_masks_file(p, {"w": np.ones(3, bool)}),
        "ref.npy": lambda p: smpcore.save_reference_masks(
            p, {"w": np.ones(3, bool)}
        ),
    }
    for name, write in writers.items():
        link = folder / name
        os.symlink(target, link)
        write(str(link))
        assert not link.is_symlink(), name
        assert target.read_text() == "mine", name
    reliability_counter.add("cases", len(writers))
