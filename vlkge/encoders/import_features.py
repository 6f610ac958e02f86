"""Import precomputed per-entity features (e.g. the VL-KGE authors' pickles) safely.

Pickles are code: a plain ``pickle.load`` on a downloaded file can run anything. We unpickle
through :class:`RestrictedUnpickler`, which can only rebuild tensors, numpy arrays and plain
containers; torch's zip format goes through ``torch.load(weights_only=True)``, torch's own
restricted unpickler. The imported matrix is stored as safetensors, one file per
(graph fingerprint, modality, name), and read back with :func:`load_imported`.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..data.graph import Graph
from ..errors import DataError
from ..runs import atomic_save_tensors
from .info import imported_name
from .store import FeatureStore, imported_path, load_imported  # noqa: F401 (load_imported: re-exported)

# (module, name) pairs needed to rebuild tensors/arrays; nothing that can call out.
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"), ("builtins", "complex"),
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"), ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"), ("torch", "Size"),
    ("torch", "device"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}
_TORCH_STORAGES = {"FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage",
                   "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage",
                   "UntypedStorage", "TypedStorage"}
_NUMPY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                 "uint16", "uint32", "uint64", "bool_"}
_TORCH_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
                 "uint8", "bool", "half", "float", "double", "long", "int"}


def _storage_from_bytes(b: bytes):
    return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles tensors, arrays and plain containers; refuses every other global."""

    def __init__(self, file, path: object = "<pickle>"):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            # pickle.dump of a tensor embeds a torch.save blob; torch's own hook would load it
            # with weights_only=False, so we substitute the restricted loader.
            return _storage_from_bytes
        ok = ((module, name) in _ALLOWED
              or (module in ("torch", "torch.storage") and name in _TORCH_STORAGES)
              or (module == "torch" and name in _TORCH_DTYPES)
              or (module == "numpy" and name in _NUMPY_DTYPES)
              or (module in ("numpy.dtypes",) and name.endswith("DType")))
        if not ok:
            raise DataError(self.path, f"refused to unpickle {module}.{name}: only tensors, "
                                       "arrays and plain containers are allowed")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        # Legacy (non-zip) torch.save files keep storages out of band; we do not support them.
        raise DataError(self.path, "legacy torch.save format is not supported: re-save it with "
                                   "a current torch (zip format) or as a pickle of numpy arrays")


def load_feature_pickle(path: Path | str) -> dict[str, torch.Tensor]:
    """Read {entity id: feature} from a pickle or torch.save file, without running code.

    Values may be a tensor, an array or a list/tuple of them (several features per entity, as in
    the authors' releases): lists are averaged. Returns float32 1-d tensors.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as e:
                raise DataError(path, f"refused to unpickle: {str(e).splitlines()[0]}") from None
        else:
            with open(path, "rb") as f:
                obj = RestrictedUnpickler(f, path).load()
    except DataError:
        raise
    except OSError as e:
        raise DataError(path, f"cannot read file ({e.strerror or e})") from None
    except Exception as e:  # truncated or not a pickle at all
        raise DataError(path, f"not a readable pickle ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a dict of entity id -> features, found {type(obj).__name__}")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        out[str(k)] = _as_vector(path, k, v)
    return out


def _as_vector(path: Path, key: object, v: object) -> torch.Tensor:
    if isinstance(v, (list, tuple)):
        if not v:
            raise DataError(path, f"entity {key}: empty feature list")
        vs = [_as_vector(path, key, x) for x in v]
        if len({x.shape for x in vs}) != 1:
            raise DataError(path, f"entity {key}: features in its list have different sizes")
        return torch.stack(vs).mean(0)
    if isinstance(v, np.ndarray):
        v = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
    if not isinstance(v, torch.Tensor):
        raise DataError(path, f"entity {key}: expected a tensor, array or list of them, "
                              f"found {type(v).__name__}")
    v = v.detach().float()
    if v.dim() == 2 and v.shape[0] >= 1:
        v = v.mean(0)  # [k, dim]: several features for one entity
    if v.dim() != 1 or v.numel() == 0:
        raise DataError(path, f"entity {key}: feature has shape {tuple(v.shape)}, expected a vector")
    if not torch.isfinite(v).all():
        raise DataError(path, f"entity {key}: feature contains NaN or infinity")
    return v


def import_features(pkl_path: Path | str, graph: Graph, modality: str,
                    encoder_name: str | None = None, store: FeatureStore | None = None) -> dict:
    """Import a pickle of {entity id: features} for ``graph``; returns a summary
    {name, path, matched, unmatched (ids in the file not in the graph), missing (graph entities
    without a feature), dim}. Use the features with ``load_imported(graph, modality, name)`` or
    ``extract_features(graph, "imported:NAME", modality)``."""
    pkl_path = Path(pkl_path)
    name = encoder_name or f"imported:{pkl_path.stem}"
    name = imported_name(name) or name
    table = load_feature_pickle(pkl_path)
    if not table:
        raise DataError(pkl_path, "no features in file")
    dims = {v.shape[0] for v in table.values()}
    if len(dims) != 1:
        raise DataError(pkl_path, f"features have different sizes {sorted(dims)[:5]}")
    dim = dims.pop()
    feats = torch.zeros(graph.num_entities, dim)
    mask = torch.zeros(graph.num_entities, dtype=torch.bool)
    idx = graph.entity_index
    unmatched = []
    for k, v in table.items():
        i = idx.get(k)
        if i is None:
            unmatched.append(k)
            continue
        feats[i] = torch.nn.functional.normalize(v, dim=0)
        mask[i] = True
    if not mask.any():
        raise DataError(pkl_path, f"none of its {len(table)} ids is an entity of the graph "
                                  f"(e.g. {next(iter(table))!r})")
    out = imported_path(graph, modality, name, store)
    atomic_save_tensors(out, {"features": feats, "mask": mask.to(torch.uint8)},
                        metadata={"source": str(pkl_path), "name": name, "modality": modality})
    return {"name": f"imported:{name}", "path": str(out), "matched": int(mask.sum()),
            "unmatched": unmatched, "missing": int((~mask).sum()), "dim": dim}
