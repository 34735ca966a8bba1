"""The bundled models' names and where their files are, without importing torch: ``run_predict`` checks the
names a user gave before it starts its worker processes."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: bundled model name → file stem in ecgcls/weights/ (``.safetensors`` + ``.json``)
BUNDLES = {"patchecg": "patchecg_superdiag", "cnn1d": "cnn1d_superdiag", "pic2dx": "pic2dx_ensemble_superdiag",
           "rhythm": "cnn1d_rhythm"}


def model_bundles(model: str) -> tuple[str, ...]:
    """The bundles a predict ``model=`` value names: ``both`` is PatchECG and the picture ensemble."""
    return ("patchecg", "pic2dx") if model == "both" else (model,)


def bundle_path(name_or_path: str | Path) -> Path:
    """A bundled model name (``cnn1d``, ``patchecg``, ``pic2dx``, ``rhythm``) or a file path → the bundle's
    JSON path (or a legacy ``.pt``)."""
    path = Path(name_or_path)
    if not path.suffix:
        if str(name_or_path) not in BUNDLES:
            raise ValueError(f"no bundled model {name_or_path!r}; bundled: {', '.join(BUNDLES)} "
                             "(or pass a bundle's .json path)")
        path = WEIGHTS_DIR / (BUNDLES[str(name_or_path)] + ".json")
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights bundle not found (bundled weights ship in ecgcls/weights/)")
    return path
