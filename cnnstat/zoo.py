"""Model names -> constructors and default input sizes.

Importing this module does not import torch: ``cnnstat models`` and name
suggestions answer instantly. Building a model does import torch.

Sources:
* every torchvision classification model, built exactly as its DEFAULT
  published weights build it (same constructor arguments, same post-load
  edits such as googlenet dropping its auxiliary heads), with the weight
  download and load replaced by nothing;
* the lectures' classic networks (``cnnstat.classics``);
* custom models, ``path/to/file.py:Name`` or ``package.module:Name``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstat.errors import ModelBuildError, ModelLoadError, UnknownModelError, UserCodeError
from cnnstat.usercode import SCRIPT_HINT, guarded

if TYPE_CHECKING:
    from torch import nn

# Crop size of each model's DEFAULT weights preprocessing (weights.transforms
# keywords). tests/test_zoo.py asserts this table equals torchvision's own.
TORCHVISION_CROP_SIZES: dict[str, int] = {
    "alexnet": 224,
    "convnext_base": 224,
    "convnext_large": 224,
    "convnext_small": 224,
    "convnext_tiny": 224,
    "densenet121": 224,
    "densenet161": 224,
    "densenet169": 224,
    "densenet201": 224,
    "efficientnet_b0": 224,
    "efficientnet_b1": 240,
    "efficientnet_b2": 288,
    "efficientnet_b3": 300,
    "efficientnet_b4": 380,
    "efficientnet_b5": 456,
    "efficientnet_b6": 528,
    "efficientnet_b7": 600,
    "efficientnet_v2_l": 480,
    "efficientnet_v2_m": 480,
    "efficientnet_v2_s": 384,
    "googlenet": 224,
    "inception_v3": 299,
    "maxvit_t": 224,
    "mnasnet0_5": 224,
    "mnasnet0_75": 224,
    "mnasnet1_0": 224,
    "mnasnet1_3": 224,
    "mobilenet_v2": 224,
    "mobilenet_v3_large": 224,
    "mobilenet_v3_small": 224,
    "regnet_x_16gf": 224,
    "regnet_x_1_6gf": 224,
    "regnet_x_32gf": 224,
    "regnet_x_3_2gf": 224,
    "regnet_x_400mf": 224,
    "regnet_x_800mf": 224,
    "regnet_x_8gf": 224,
    "regnet_y_128gf": 384,
    "regnet_y_16gf": 224,
    "regnet_y_1_6gf": 224,
    "regnet_y_32gf": 224,
    "regnet_y_3_2gf": 224,
    "regnet_y_400mf": 224,
    "regnet_y_800mf": 224,
    "regnet_y_8gf": 224,
    "resnet101": 224,
    "resnet152": 224,
    "resnet18": 224,
    "resnet34": 224,
    "resnet50": 224,
    "resnext101_32x8d": 224,
    "resnext101_64x4d": 224,
    "resnext50_32x4d": 224,
    "shufflenet_v2_x0_5": 224,
    "shufflenet_v2_x1_0": 224,
    "shufflenet_v2_x1_5": 224,
    "shufflenet_v2_x2_0": 224,
    "squeezenet1_0": 224,
    "squeezenet1_1": 224,
    "swin_b": 224,
    "swin_s": 224,
    "swin_t": 224,
    "swin_v2_b": 256,
    "swin_v2_s": 256,
    "swin_v2_t": 256,
    "vgg11": 224,
    "vgg11_bn": 224,
    "vgg13": 224,
    "vgg13_bn": 224,
    "vgg16": 224,
    "vgg16_bn": 224,
    "vgg19": 224,
    "vgg19_bn": 224,
    "vit_b_16": 224,
    "vit_b_32": 224,
    "vit_h_14": 518,
    "vit_l_16": 224,
    "vit_l_32": 224,
    "wide_resnet101_2": 224,
    "wide_resnet50_2": 224,
}


# torchvision's segmentation, detection, video and optical-flow models: the default
# input (one sample, without the batch) and how many such inputs the forward takes.
# Segmentation: the 520 resize of the published preprocessing. Detection: an image
# of the size the model resizes to itself (min_size: 800, or 320 / 300 for the small
# ones). Video: C×T×H×W clips of the published crop, 16 frames. Optical
# flow: two 3×512×512 frames. tests/test_zoo.py checks the published params and
# GFLOPS against these sizes where torchvision measured at them.
TORCHVISION_TASK_INPUTS: dict[str, tuple[tuple[int, ...], int]] = {
    "deeplabv3_mobilenet_v3_large": ((3, 520, 520), 1),
    "deeplabv3_resnet101": ((3, 520, 520), 1),
    "deeplabv3_resnet50": ((3, 520, 520), 1),
    "fcn_resnet101": ((3, 520, 520), 1),
    "fcn_resnet50": ((3, 520, 520), 1),
    "lraspp_mobilenet_v3_large": ((3, 520, 520), 1),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ((3, 320, 320), 1),
    "fasterrcnn_mobilenet_v3_large_fpn": ((3, 800, 800), 1),
    "fasterrcnn_resnet50_fpn": ((3, 800, 800), 1),
    "fasterrcnn_resnet50_fpn_v2": ((3, 800, 800), 1),
    "fcos_resnet50_fpn": ((3, 800, 800), 1),
    "keypointrcnn_resnet50_fpn": ((3, 800, 800), 1),
    "maskrcnn_resnet50_fpn": ((3, 800, 800), 1),
    "maskrcnn_resnet50_fpn_v2": ((3, 800, 800), 1),
    "retinanet_resnet50_fpn": ((3, 800, 800), 1),
    "retinanet_resnet50_fpn_v2": ((3, 800, 800), 1),
    "ssd300_vgg16": ((3, 300, 300), 1),
    "ssdlite320_mobilenet_v3_large": ((3, 320, 320), 1),
    "mc3_18": ((3, 16, 112, 112), 1),
    "mvit_v1_b": ((3, 16, 224, 224), 1),
    "mvit_v2_s": ((3, 16, 224, 224), 1),
    "r2plus1d_18": ((3, 16, 112, 112), 1),
    "r3d_18": ((3, 16, 112, 112), 1),
    "s3d": ((3, 16, 224, 224), 1),
    "swin3d_b": ((3, 16, 224, 224), 1),
    "swin3d_s": ((3, 16, 224, 224), 1),
    "swin3d_t": ((3, 16, 224, 224), 1),
    "raft_large": ((3, 512, 512), 2),
    "raft_small": ((3, 512, 512), 2),
}


@dataclass(frozen=True)
class ClassicSpec:
    """A lecture network that torchvision lacks: its builder and input size.

    Its paper, year and salient feature are in ``cnnstat.facts.CLASSIC_FACTS``.
    """

    builder: str  # "module:function"
    input_size: tuple[int, ...]


CLASSICS: dict[str, ClassicSpec] = {
    "lenet5": ClassicSpec("cnnstat.classics:lenet5", (1, 32, 32)),
    "lenet5_original": ClassicSpec("cnnstat.classics:lenet5_original", (1, 32, 32)),
    "alexnet_original": ClassicSpec("cnnstat.classics:alexnet_original", (3, 227, 227)),
    "alexnet_original_2gpu": ClassicSpec("cnnstat.classics:alexnet_original_2gpu", (3, 227, 227)),
    "zfnet": ClassicSpec("cnnstat.classics:zfnet", (3, 224, 224)),
    "nin": ClassicSpec("cnnstat.classics:nin", (3, 224, 224)),
    "inception_naive_block": ClassicSpec("cnnstat.classics:inception_naive_block", (192, 28, 28)),
    "inception_block": ClassicSpec("cnnstat.classics:inception_block", (192, 28, 28)),
    "se_resnet50": ClassicSpec("cnnstat.classics:se_resnet50", (3, 224, 224)),
    "mobilenet_v1": ClassicSpec("cnnstat.classics:mobilenet_v1", (3, 224, 224)),
}


@dataclass(frozen=True)
class ModelSpec:
    """A resolvable model: its name, where it comes from and its default C×H×W input size."""

    name: str
    source: str  # "torchvision" | "classic" | "timm" | "custom"
    default_input_size: tuple[int, ...] | None
    input_count: int = 1  # positional inputs of default_input_size (RAFT takes two images)

    @property
    def is_custom(self) -> bool:
        return self.source == "custom"


def zoo_names() -> list[str]:
    """Every built-in classification model name, torchvision's then the classics, sorted."""
    return sorted(TORCHVISION_CROP_SIZES) + sorted(CLASSICS)


def task_names() -> list[str]:
    """torchvision's segmentation, detection, video and optical-flow model names, sorted."""
    return sorted(TORCHVISION_TASK_INPUTS)


def list_models() -> list[ModelSpec]:
    """Every built-in model, with its default input size."""
    return [resolve(n) for n in (*zoo_names(), *task_names())]


def _is_custom(name: str) -> bool:
    return ":" in name


def suggest(name: str, n: int = 3) -> list[str]:
    """The closest built-in model names to a mistyped one."""
    return difflib.get_close_matches(name.lower(), zoo_names() + task_names(), n=n, cutoff=0.6)


def resolve(name: str) -> ModelSpec:
    """Resolve a model name to a spec without building anything; unknown names raise with suggestions."""
    if name in TORCHVISION_CROP_SIZES:
        crop = TORCHVISION_CROP_SIZES[name]
        return ModelSpec(name, "torchvision", (3, crop, crop))
    if name in TORCHVISION_TASK_INPUTS:
        size, count = TORCHVISION_TASK_INPUTS[name]
        return ModelSpec(name, "torchvision", size, count)
    if name in CLASSICS:
        return ModelSpec(name, "classic", CLASSICS[name].input_size)
    if name.startswith("timm:"):
        return _resolve_timm(name)
    if _is_custom(name):
        return ModelSpec(name, "custom", None)
    close = suggest(name)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"unknown model '{name}'{hint} (run `cnnstat models` for the list, "
        "or pass path/to/file.py:Name for a custom model)"
    )


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise ModelLoadError(
            "timm models need timm: pip install 'cnnstat[timm]' (or pip install timm)"
        ) from None
    return timm


def _resolve_timm(name: str) -> ModelSpec:
    timm = _timm()
    model = name.removeprefix("timm:")
    if not timm.is_model(model):
        close = difflib.get_close_matches(model, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
        raise UnknownModelError(f"unknown timm model '{model}'{hint}")
    cfg = timm.models.get_pretrained_cfg(model)
    size = tuple(cfg.input_size) if cfg is not None and cfg.input_size else None
    return ModelSpec(name, "timm", size)


def list_timm_models(pattern: str | None = None) -> list[ModelSpec]:
    """timm's architectures matching a shell-style pattern, with their default input sizes."""
    timm = _timm()
    return [_resolve_timm(f"timm:{n}") for n in timm.list_models(pattern or "*")]


# --- building --------------------------------------------------------------------


class _NoWeights(dict):  # type: ignore[type-arg]
    """Stands in for a published state dict: loading it changes nothing."""


@contextmanager
def _published_architecture() -> Iterator[None]:
    """Let torchvision builders run with their DEFAULT weights enum, minus the download."""
    from torch import nn
    from torchvision.models._api import WeightsEnum

    original_get = WeightsEnum.get_state_dict
    original_load = nn.Module.load_state_dict

    def get_state_dict(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _NoWeights()

    def load_state_dict(self: nn.Module, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(state_dict, _NoWeights):
            return None
        return original_load(self, state_dict, *args, **kwargs)

    WeightsEnum.get_state_dict = get_state_dict  # type: ignore[method-assign]
    nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]
    try:
        yield
    finally:
        WeightsEnum.get_state_dict = original_get  # type: ignore[method-assign]
        nn.Module.load_state_dict = original_load  # type: ignore[method-assign]


def _meta_parameters() -> Any:
    """A TorchFunctionMode that puts tensors made by allocation factories on the meta device.

    Only ``empty``/``zeros``/``ones``/``full``/``rand*`` are redirected: that is how
    layers create parameters and buffers. ``arange``, ``tensor``, ``linspace`` stay
    real, so constructors that compute with them (regnet's widths) still work.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    factories = {
        torch.empty,
        torch.zeros,
        torch.ones,
        torch.full,
        torch.rand,
        torch.randn,
        torch.empty_strided,
        torch.randint,
        torch.normal,
    }

    class MetaParameters(TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    return MetaParameters()


def _torchvision_builder(name: str) -> Callable[[], nn.Module]:
    from torchvision.models import get_model_builder, get_model_weights

    builder = get_model_builder(name)
    weights = get_model_weights(name).DEFAULT

    def build() -> nn.Module:
        with _published_architecture():
            return builder(weights=weights, progress=False)

    return build


def _load_attr(target: str) -> Any:
    module_part, _, attr = target.rpartition(":")
    if not module_part or not attr:
        raise ModelLoadError(f"custom model '{target}' must look like path/to/file.py:Name")
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.is_file():
            raise ModelLoadError(f"custom model file not found: {path}")
        mod_name = f"cnnstat_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import {path} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            with guarded(f"importing {path}", argv0=str(path), hint=SCRIPT_HINT):
                spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            if isinstance(exc, UserCodeError):
                raise
            raise ModelLoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
        where = str(path)
    else:
        try:
            with guarded(f"importing {module_part}", argv0=module_part, hint=SCRIPT_HINT):
                module = importlib.import_module(module_part)
        except UserCodeError:
            raise
        except ImportError as exc:
            raise ModelLoadError(f"cannot import module '{module_part}': {exc}") from exc
        except Exception as exc:
            raise ModelLoadError(
                f"importing {module_part} failed: {type(exc).__name__}: {exc}"
            ) from exc
        where = module_part
    if not hasattr(module, attr):
        from torch import nn

        candidates = sorted(
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and (
                isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__
            )
        )
        listed = f"; it defines {', '.join(candidates)}" if candidates else ""
        raise ModelLoadError(f"{where} does not define '{attr}'{listed}")
    return getattr(module, attr)


def source_files(names: Iterable[str]) -> list[Path]:
    """The Python files that custom models among ``names`` are loaded from; nothing is imported."""
    files = []
    for name in names:
        module_part = name.rpartition(":")[0] if _is_custom(name) else ""
        if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
            files.append(Path(module_part))
        elif module_part and "." not in module_part:  # a top-level module: found without importing
            try:
                found = importlib.util.find_spec(module_part)
            except (ImportError, ValueError):
                continue
            if found is not None and found.origin and found.origin.endswith(".py"):
                files.append(Path(found.origin))
    return files


def _custom_builder(target: str) -> Callable[[], nn.Module]:
    obj = _load_attr(target)
    if not callable(obj):
        raise ModelLoadError(f"'{target}' is not an nn.Module subclass or a function returning one")
    return obj  # type: ignore[no-any-return]


def builder_for(spec: ModelSpec) -> Callable[[], nn.Module]:
    """A zero-argument constructor for the model a spec names."""
    if spec.source == "torchvision":
        return _torchvision_builder(spec.name)
    if spec.source == "classic":
        return _custom_builder(CLASSICS[spec.name].builder)
    if spec.source == "timm":
        timm = _timm()
        model = spec.name.removeprefix("timm:")
        return lambda: timm.create_model(model, pretrained=False)  # type: ignore[no-any-return]
    return _custom_builder(spec.name)


def build(spec: ModelSpec, meta: bool = True) -> nn.Module:
    """Construct the model; with ``meta`` its parameters and buffers live on the meta device."""
    from torch import nn

    constructor = builder_for(spec)
    try:
        with guarded(f"building '{spec.name}'"):
            if meta:
                with _meta_parameters():
                    model = constructor()
                model = model.to("meta")
            else:
                model = constructor()
    except UserCodeError:
        raise
    except Exception as exc:
        raise ModelBuildError(
            f"building '{spec.name}' failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"'{spec.name}' returned {type(model).__name__}, not an nn.Module")
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
