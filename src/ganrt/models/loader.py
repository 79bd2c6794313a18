"""Load a model by built-in name or from a user file into one descriptor.

Architectures and checkpoint detection come from spandrel. Pickle checkpoints
are read with ``torch.load(weights_only=True)`` only, so a file that needs
arbitrary code to unpickle is refused and nothing in it runs. A file is
sniffed first, so a web page saved as ``.pth`` or a truncated download is
called what it is; and a file is trusted for size only after its tensors are
checked (every tensor stores the elements it claims, the total is bounded)
and the detected network is sane (scale, channels), before anything runs.

The PyTorch module is loaded lazily: a built-in model's facts come from the
registry table, and a user file's from the info cache (``info_cache``) once
it has been loaded once, so backends that run an exported graph (ONNX
Runtime, OpenVINO, TensorRT) never import torch when the graph is cached.
That saves about 0.7 GB of memory and seconds of start-up per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganrt.kinds import FACE_RESTORATION, GENERATION, INPAINTING, KINDS, PRECISIONS, SUPER_RESOLUTION
from ganrt.errors import ModelLoadError, UnknownModelError, UnsupportedModelFileError
from ganrt.fsutil import sha256_file
from ganrt.models.checkpoint import MODEL_FILE_SUFFIXES, check_model_file, check_tensors, first_line, read_checkpoint
from ganrt.models.info_cache import read_info, update_info
from ganrt.models.registry import ModelEntry, find_builtin, get_builtin

RUN_MODEL_FILE = "generator.safetensors"  # what `ganrt train` leaves in its run directory
MAX_SCALE = 16
MAX_CHANNELS = 16
_DETECTED = ("arch", "scale", "in_channels", "out_channels", "precisions", "params", "size_multiple", "min_size",
             "kind")


@dataclass
class LoadedModel:
    """What callers ask instead of guessing: scale, channels, precisions, size rules."""

    name: str
    arch: str
    scale: int
    in_channels: int
    out_channels: int
    precisions: tuple[str, ...]
    license: str
    source: str
    checksum: str  # sha256 of the weights' source file
    params: int
    size_multiple: int = 1
    min_size: int = 0
    builtin: bool = False
    kind: str = SUPER_RESOLUTION  # see ganrt.kinds
    noise_dim: int = 0  # generators
    image_size: int = 0  # generators
    value_range: tuple[float, float] = (0.0, 1.0)
    default_outscale: float | None = None  # built-ins named for a ×2/×3 output of a ×4 network
    _load_module: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    _module: Any = field(default=None, repr=False, compare=False)

    @property
    def module(self):
        """The torch.nn.Module (eval mode, fp32, CPU), loaded on first use."""
        if self._module is None:
            self._module = self._load_module()
        return self._module

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arch": self.arch,
            "scale": self.scale,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "params": self.params,
            "precisions": list(self.precisions),
            "license": self.license,
            "source": self.source,
            "sha256": self.checksum,
            "size_multiple": self.size_multiple,
            "builtin": self.builtin,
            "kind": self.kind,
            **({"noise_dim": self.noise_dim, "image_size": self.image_size, "value_range": list(self.value_range)}
               if self.kind == GENERATION else {}),
        }

    def require_kind(self, *kinds: str, command: str) -> LoadedModel:
        """This model, or one clear line when ``command`` cannot run its kind."""
        if self.kind not in kinds:
            from ganrt.errors import UsageError

            raise UsageError(f"{self.name} is a {self.kind} model; {command} needs a {' or '.join(kinds)} model")
        return self


def _install_extra_arches() -> None:
    """spandrel's extra architectures (CodeFormer and others of non-commercial licences), when the
    user installed them: ganrt ships none of them."""
    try:
        import spandrel_extra_arches
    except ImportError:
        return
    spandrel_extra_arches.install(ignore_duplicates=True)


def describe_state_dict(state: dict, *, name: str) -> Any:
    """spandrel's descriptor for a state dict, or a clear ModelLoadError."""
    from spandrel import (ImageModelDescriptor, MaskedImageModelDescriptor, ModelLoader, UnsupportedModelError,
                          canonicalize_state_dict)

    state = canonicalize_state_dict(state) if isinstance(state, dict) else state
    check_tensors(state, name)
    _install_extra_arches()
    try:
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError as exc:
        raise ModelLoadError(f"{name}: unknown model architecture (spandrel could not detect it)") from exc
    except Exception as exc:
        raise ModelLoadError(f"{name}: weights do not fit the detected architecture ({first_line(exc)})") from exc
    if not isinstance(descriptor, (ImageModelDescriptor, MaskedImageModelDescriptor)):
        raise ModelLoadError(
            f"{name}: {descriptor.architecture.name} is not an image-to-image model ganrt can run"
        )
    if not 1 <= descriptor.scale <= MAX_SCALE:
        raise ModelLoadError(f"{name}: a ×{descriptor.scale} {descriptor.architecture.name} is not a sane "
                             f"upscaling factor (ganrt runs ×1 to ×{MAX_SCALE})")
    if not (1 <= descriptor.input_channels <= MAX_CHANNELS and 1 <= descriptor.output_channels <= MAX_CHANNELS):
        raise ModelLoadError(f"{name}: {descriptor.input_channels} → {descriptor.output_channels} channels is "
                             "not an image network")
    return descriptor.eval()


def detected_facts(descriptor) -> dict[str, Any]:
    from spandrel import MaskedImageModelDescriptor

    precisions = ("fp32",) + (("fp16",) if descriptor.supports_half else ()) + (
        ("bf16",) if descriptor.supports_bfloat16 else ())
    req = descriptor.size_requirements
    return {
        "arch": descriptor.architecture.name,
        "scale": descriptor.scale,
        "in_channels": descriptor.input_channels,
        "out_channels": descriptor.output_channels,
        "precisions": precisions,
        "params": sum(p.numel() for p in descriptor.model.parameters()),
        "size_multiple": max(1, int(req.multiple_of)),
        "min_size": int(req.minimum),
        "kind": (INPAINTING if isinstance(descriptor, MaskedImageModelDescriptor)
                 else FACE_RESTORATION if descriptor.purpose == "FaceSR" else SUPER_RESOLUTION),
    }


def module_of(descriptor):
    if getattr(descriptor, "purpose", None) == "FaceSR":  # GFPGAN and kin: -1..1 pixels, tuple outputs
        from ganrt.models.archs.face import FaceNet

        return module_of_module(FaceNet(descriptor.model, descriptor.architecture.name))
    if descriptor.architecture.name == "RealCUGAN" and "fast" not in descriptor.tags:
        from ganrt.models.archs.realcugan import CuganNet  # its own odd-size padding, exportable

        return module_of_module(CuganNet(descriptor.model, descriptor.scale))
    from ganrt.models.archs.image_only import image_only

    return module_of_module(image_only(descriptor.model))


def module_of_module(module):
    """A network ready to run: fp32, eval mode, no gradients."""
    module = module.float().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def model_from_state_dict(state: dict, *, name: str, license: str = "unknown", source: str = "",
                          checksum: str = "0" * 64) -> LoadedModel:
    """A LoadedModel around an in-memory state dict (used for tests and conversions)."""
    descriptor = describe_state_dict(state, name=name)
    facts = detected_facts(descriptor)
    module = module_of(descriptor)
    return LoadedModel(name=name, license=license, source=source, checksum=checksum, _module=module, **facts)


def _builtin(entry: ModelEntry) -> LoadedModel:
    from ganrt.models.zoo import builtin_checksum, builtin_state_dict, count_params

    def load_module():
        from ganrt.models.archs.realesrgan import build

        state, _sha = builtin_state_dict(entry)
        own = build(entry.arch, state)  # Real-ESRGAN's families: built directly, no spandrel import
        if own is not None:
            return module_of_module(own)
        descriptor = describe_state_dict(state, name=entry.name)
        if (descriptor.scale, descriptor.input_channels) != (entry.scale, entry.in_channels):
            raise ModelLoadError(f"{entry.name}: converted weights do not match the registry entry")
        return module_of(descriptor)

    return LoadedModel(name=entry.name, arch=entry.arch, scale=entry.scale, in_channels=entry.in_channels,
                       out_channels=entry.in_channels, precisions=entry.precisions, license=entry.license,
                       source=entry.source, checksum=builtin_checksum(entry), params=count_params(entry),
                       builtin=True, default_outscale=entry.outscale, size_multiple=entry.size_multiple,
                       min_size=entry.min_size, _load_module=load_module)


def _valid_facts(info: dict) -> dict | None:
    """The cached facts, when every one is present and of the right type (else detect again)."""
    if not all(k in info for k in _DETECTED):
        return None
    facts = {k: info[k] for k in _DETECTED}
    ints = ("scale", "in_channels", "out_channels", "params", "size_multiple", "min_size")
    if (not all(isinstance(facts[k], int) and facts[k] >= 0 for k in ints) or not isinstance(facts["arch"], str)
            or not isinstance(facts["precisions"], list) or not set(facts["precisions"]) <= set(PRECISIONS)
            or not 1 <= facts["scale"] <= MAX_SCALE or facts["size_multiple"] < 1
            or facts["kind"] not in KINDS):
        return None
    facts["precisions"] = tuple(facts["precisions"])
    return facts


def _own_file(path: Path, arch, meta: dict, common: dict) -> LoadedModel:
    """A generator (or network) ganrt trained: rebuilt from its metadata, weights loaded strictly."""
    from ganrt.models.own import facts_from_meta

    def load_module():
        from safetensors.torch import load_file

        state = load_file(str(path))
        check_tensors(state, path.name)
        module = arch.build(meta)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelLoadError(f"{path.name}: weights do not fit its {arch.name} metadata ({first_line(exc)})") from exc
        return module_of_module(module)

    facts = facts_from_meta(meta)
    return LoadedModel(**common, **facts, params=int(meta.get("ganrt.params", 0)), _load_module=load_module)


def _user_file(path: Path) -> LoadedModel:
    check_model_file(path)
    checksum = sha256_file(path)
    info = read_info(checksum)
    if path.suffix.lower() == ".safetensors":
        from ganrt.models.own import file_metadata, own_arch

        meta = file_metadata(path)
        arch = own_arch(meta)
        if arch is not None:
            from ganrt.cache import entry_stem

            return _own_file(path, arch, meta, dict(name=entry_stem(meta.get("ganrt.name", path.stem)),
                                                     license=meta.get("ganrt.license", "yours (trained with ganrt)"),
                                                     source=str(path.resolve()), checksum=checksum, builtin=False))

    def load_module():
        return module_of(describe_state_dict(read_checkpoint(path), name=path.name))

    common = dict(name=path.stem, license="unknown (user file)", source=str(path.resolve()), checksum=checksum,
                  builtin=False, _load_module=load_module)
    facts = _valid_facts(info)
    if facts is not None:
        return LoadedModel(**common, **facts)
    descriptor = describe_state_dict(read_checkpoint(path), name=path.name)
    facts = detected_facts(descriptor)
    update_info(checksum, **facts)  # JSON keeps the precisions as a list; read back as a tuple above
    return LoadedModel(**common, **facts, _module=module_of(descriptor))


def load_model(spec: str) -> LoadedModel:
    """A built-in model by name, or a user model file by path (checked now, torch module loaded lazily)."""
    entry = find_builtin(spec)
    if entry is not None:
        return _builtin(entry)
    path = Path(spec).expanduser()
    if not path.exists():
        if path.suffix.lower() in MODEL_FILE_SUFFIXES:
            raise UnknownModelError(f"model file not found: {spec}")
        get_builtin(spec)  # raises UnknownModelError with a did-you-mean hint
    if path.is_dir():
        trained = path / RUN_MODEL_FILE
        if trained.is_file():  # a training run directory: its exported generator
            return _user_file(trained)
        raise UnsupportedModelFileError(f"{spec} is a folder, not a model file (nor a training run with "
                                        f"{RUN_MODEL_FILE})")
    return _user_file(path)
