"""Curated year and salient feature of the well-known model families, for ``compare``."""

from __future__ import annotations

# (name prefix, year of the paper, salient feature); the longest matching prefix wins
FAMILIES: tuple[tuple[str, int, str], ...] = (
    ("alexnet", 2012, "ReLU, dropout, big 11x11 first conv"),
    ("vgg", 2014, "stacks of 3x3 convs, huge FC layers"),
    ("googlenet", 2014, "Inception modules with 1x1 bottlenecks"),
    ("inception_v3", 2015, "factorised convolutions, label smoothing"),
    ("resnet", 2015, "residual connections"),
    ("resnext", 2016, "grouped convolutions in residual blocks"),
    ("wide_resnet", 2016, "wider, shallower residual networks"),
    ("densenet", 2016, "dense connections by concatenation"),
    ("squeezenet", 2016, "fire modules, AlexNet accuracy in 1.2M params"),
    ("mobilenet_v2", 2018, "inverted residuals, linear bottlenecks"),
    ("mobilenet_v3", 2019, "NAS-designed, hard-swish, squeeze-excitation"),
    ("shufflenet_v2", 2018, "channel shuffle, split branches"),
    ("mnasnet", 2018, "mobile neural architecture search"),
    ("efficientnet", 2019, "compound scaling of depth, width, resolution"),
    ("efficientnet_v2", 2021, "fused MBConv, progressive training"),
    ("regnet", 2020, "design-space search: widths from a quantised line"),
    ("vit", 2020, "transformer on 16x16 patches"),
    ("vit_b_32", 2020, "transformer on 32x32 patches"),
    ("vit_l_32", 2020, "transformer on 32x32 patches"),
    ("vit_h_14", 2020, "transformer on 14x14 patches"),
    ("swin", 2021, "shifted-window attention, hierarchical"),
    ("swin_v2", 2021, "scaled cosine attention, log-spaced position bias"),
    ("convnext", 2022, "a ResNet modernised toward transformers"),
    ("maxvit", 2022, "multi-axis (block + grid) attention"),
)


def family_of(name: str) -> tuple[int | None, str]:
    """Year and salient feature for a model name; classics carry their own."""
    from cnnstat.zoo import CLASSICS

    if name in CLASSICS:
        return CLASSICS[name].year, CLASSICS[name].note
    best: tuple[str, int, str] | None = None
    for prefix, year, note in FAMILIES:
        if name.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, year, note)
    return (best[1], best[2]) if best else (None, "")
