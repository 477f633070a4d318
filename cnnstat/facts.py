"""Facts about models, each written once: year, salient feature, paper, and the lectures' claims.

``compare``, the zoo's classics, ``report lectures`` and the tests all read this module. Facts
are data here, not measurements: what cnnstat measures is compared against them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFacts:
    """A model's (or a family's) year of publication and salient feature, with its paper if known."""

    year: int
    feature: str
    paper: str = ""


# The lectures' classics that torchvision lacks, by exact model name (see cnnstat.classics).
CLASSIC_FACTS: dict[str, ModelFacts] = {
    "lenet5": ModelFacts(
        1998, "two convs + three FCs; ReLU and max-pool", "LeCun et al. 1998 (as in the lectures)"
    ),
    "lenet5_original": ModelFacts(
        1998, "trainable subsampling, sparse C3, tanh, RBF output", "LeCun et al. 1998"
    ),
    "alexnet_original": ModelFacts(
        2012, "ReLU, LRN, dropout, 11x11/4 first conv; one device", "Krizhevsky et al. 2012"
    ),
    "alexnet_original_2gpu": ModelFacts(
        2012, "CONV2/4/5 split across two GPUs (groups=2)", "Krizhevsky et al. 2012"
    ),
    "zfnet": ModelFacts(2013, "AlexNet with 7x7/2 CONV1 and wider CONV3-5", "Zeiler & Fergus 2013"),
    "nin": ModelFacts(
        2014, "mlpconv (1x1 convs) and global average pooling instead of FCs", "Lin et al. 2014"
    ),
    "inception_naive_block": ModelFacts(
        2014, "one Inception module without 1x1 reductions", "Szegedy et al. 2015"
    ),
    "inception_block": ModelFacts(
        2014, "one Inception module with 1x1 bottlenecks", "Szegedy et al. 2015"
    ),
    "se_resnet50": ModelFacts(
        2017, "ResNet-50 with squeeze-and-excitation channel attention", "Hu et al. 2018"
    ),
    "mobilenet_v1": ModelFacts(2017, "depthwise-separable convolutions", "Howard et al. 2017"),
}

# The well-known families, by name prefix; the longest matching prefix wins.
FAMILY_FACTS: dict[str, ModelFacts] = {
    "alexnet": ModelFacts(2012, "ReLU, dropout, big 11x11 first conv"),
    "vgg": ModelFacts(2014, "stacks of 3x3 convs, huge FC layers"),
    "googlenet": ModelFacts(2014, "Inception modules with 1x1 bottlenecks"),
    "inception_v3": ModelFacts(2015, "factorised convolutions, label smoothing"),
    "resnet": ModelFacts(2015, "residual connections"),
    "resnext": ModelFacts(2016, "grouped convolutions in residual blocks"),
    "wide_resnet": ModelFacts(2016, "wider, shallower residual networks"),
    "densenet": ModelFacts(2016, "dense connections by concatenation"),
    "squeezenet": ModelFacts(2016, "fire modules, AlexNet accuracy in 1.2M params"),
    "mobilenet_v2": ModelFacts(2018, "inverted residuals, linear bottlenecks"),
    "mobilenet_v3": ModelFacts(2019, "NAS-designed, hard-swish, squeeze-excitation"),
    "shufflenet_v2": ModelFacts(2018, "channel shuffle, split branches"),
    "mnasnet": ModelFacts(2018, "mobile neural architecture search"),
    "efficientnet": ModelFacts(2019, "compound scaling of depth, width, resolution"),
    "efficientnet_v2": ModelFacts(2021, "fused MBConv, progressive training"),
    "regnet": ModelFacts(2020, "design-space search: widths from a quantised line"),
    "vit": ModelFacts(2020, "transformer on 16x16 patches"),
    "vit_b_32": ModelFacts(2020, "transformer on 32x32 patches"),
    "vit_l_32": ModelFacts(2020, "transformer on 32x32 patches"),
    "vit_h_14": ModelFacts(2020, "transformer on 14x14 patches"),
    "swin": ModelFacts(2021, "shifted-window attention, hierarchical"),
    "swin_v2": ModelFacts(2021, "scaled cosine attention, log-spaced position bias"),
    "convnext": ModelFacts(2022, "a ResNet modernised toward transformers"),
    "maxvit": ModelFacts(2022, "multi-axis (block + grid) attention"),
}


def facts_of(name: str) -> ModelFacts | None:
    """The facts for a model name: a classic's own, else its family's (longest prefix), else None."""
    if name in CLASSIC_FACTS:
        return CLASSIC_FACTS[name]
    prefixes = [p for p in FAMILY_FACTS if name.startswith(p)]
    return FAMILY_FACTS[max(prefixes, key=len)] if prefixes else None


def family_of(name: str) -> tuple[int | None, str]:
    """Year and salient feature for a model name; ``(None, "")`` when nothing is known."""
    facts = facts_of(name)
    return (facts.year, facts.feature) if facts else (None, "")


@dataclass(frozen=True)
class LectureClaim:
    """A row of the lectures' comparison table (lecture 3, "Comparison"), as the slide writes it.

    The year is not repeated here: it is the year of ``model`` in the tables above.
    """

    network: str
    feature: str  # the slide's words, shorter than the model's own feature above
    top5: float
    params: float
    flops: float
    model: str  # the cnnstat model that row is about
    variants: tuple[str, ...]  # the variants a claimed figure may refer to

    @property
    def year(self) -> int:
        facts = facts_of(self.model)
        if facts is None:  # a claim about a model this module knows nothing of: a table error
            raise KeyError(f"no facts for {self.model}")
        return facts.year


LECTURE_CLAIMS = (
    LectureClaim("AlexNet", "Deeper", 84.70, 62e6, 1.5e9, "alexnet_original",
                 ("alexnet_original", "alexnet_original_2gpu", "alexnet")),
    LectureClaim("VGGNet", "Fixed-size kernels", 92.30, 138e6, 19.6e9, "vgg16",
                 ("vgg16", "vgg19")),
    LectureClaim("Inception", "Wider - Parallel kernels", 93.30, 6.4e6, 2e9, "googlenet",
                 ("googlenet",)),
    LectureClaim("ResNet-152", "Shortcut connections", 95.51, 60.3e6, 11e9, "resnet152",
                 ("resnet152",)),
)  # fmt: skip

# Lecture 4's VGG16 table: (layer, shape H x W x C, memory in elements as written, params
# without biases as written, the cnnstat layer name of torchvision's vgg16).
VGG16_LECTURE = (
    ("INPUT", "224x224x3", "150K", 0, None),
    ("CONV3-64", "224x224x64", "3.2M", 1_728, "features.0"),
    ("CONV3-64", "224x224x64", "3.2M", 36_864, "features.2"),
    ("POOL2", "112x112x64", "800K", 0, "features.4"),
    ("CONV3-128", "112x112x128", "1.6M", 73_728, "features.5"),
    ("CONV3-128", "112x112x128", "1.6M", 147_456, "features.7"),
    ("POOL2", "56x56x128", "400K", 0, "features.9"),
    ("CONV3-256", "56x56x256", "800K", 294_912, "features.10"),
    ("CONV3-256", "56x56x256", "800K", 589_824, "features.12"),
    ("CONV3-256", "56x56x256", "800K", 589_824, "features.14"),
    ("POOL2", "28x28x256", "200K", 0, "features.16"),
    ("CONV3-512", "28x28x512", "400K", 1_179_648, "features.17"),
    ("CONV3-512", "28x28x512", "400K", 2_359_296, "features.19"),
    ("CONV3-512", "28x28x512", "400K", 2_359_296, "features.21"),
    ("POOL2", "14x14x512", "100K", 0, "features.23"),
    ("CONV3-512", "14x14x512", "100K", 2_359_296, "features.24"),
    ("CONV3-512", "14x14x512", "100K", 2_359_296, "features.26"),
    ("CONV3-512", "14x14x512", "100K", 2_359_296, "features.28"),
    ("POOL2", "7x7x512", "25K", 0, "features.30"),
    ("FC", "1x1x4096", "4096", 102_760_448, "classifier.0"),
    ("FC", "1x1x4096", "4096", 16_777_216, "classifier.3"),
    ("FC", "1x1x1000", "1000", 4_096_000, "classifier.6"),
)
VGG16_LECTURE_TOTAL_ELEMENTS = 24e6  # "TOTAL memory: 24M * 4 bytes ~= 96MB / image"
VGG16_LECTURE_TOTAL_PARAMS = 138e6  # "TOTAL params: 138M parameters"

# Lecture 4's AlexNet walk-through at 227x227x3: (layer, H x W x C, cnnstat layer name)
ALEXNET_LECTURE = (
    ("CONV1", "55x55x96", "features.conv1"),
    ("MAX POOL1", "27x27x96", "features.pool1"),
    ("NORM1", "27x27x96", "features.norm1"),
    ("CONV2", "27x27x256", "features.conv2"),
    ("MAX POOL2", "13x13x256", "features.pool2"),
    ("NORM2", "13x13x256", "features.norm2"),
    ("CONV3", "13x13x384", "features.conv3"),
    ("CONV4", "13x13x384", "features.conv4"),
    ("CONV5", "13x13x256", "features.conv5"),
    ("MAX POOL3", "6x6x256", "features.pool3"),
    ("FC6", "4096", "classifier.fc6"),
    ("FC7", "4096", "classifier.fc7"),
    ("FC8", "1000", "classifier.fc8"),
)
