"""Image classifier architectures: a small CNN, PreAct ResNet-18 and WideResNet-28-10.

Every network takes pixels in [0, 1], shape [N, C, H, W], and returns logits [N, num_classes].
Input normalisation is part of the model (:class:`Normalize`, built in by
:func:`build_image_model`), so an attack perturbs and clips raw [0, 1] pixels and an ε is measured
in pixel units, as in RobustBench and AutoAttack.

Parameter names follow the reference implementations (Wong et al.'s ``PreActResNet18``, the
RobustBench ``WideResNet``), so a state dict converted from those code bases to safetensors has
the keys these modules expect.
"""

from __future__ import annotations

import inspect
import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "Normalize",
    "PreActResNet18",
    "SmallCNN",
    "WideResNet",
    "build_image_model",
]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


def _per_channel(values, channels: int, name: str, default: float) -> list[float]:
    """``values`` (None, a number or one number per channel) as a list of ``channels`` floats."""
    if values is None:
        values = [default] * channels
    elif isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [float(values)] * channels
    elif isinstance(values, torch.Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    elif not isinstance(values, Sequence) or isinstance(values, str):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {type(values).__name__}")
    values = [float(v) for v in values]
    if len(values) != channels:
        raise ValueError(f"{name} must have one value per channel ({channels}), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite, got {values!r}")
    return values


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std``, with mean and std stored as buffers (saved in the weights).

    Parameters
    ----------
    mean, std : float or sequence of float
        One value per channel (a single number is used for every channel); std must be > 0.
    in_channels : int, optional
        Number of channels; defaults to ``len(mean)``.

    Examples
    --------
    >>> import torch
    >>> Normalize([0.5], [0.25])(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, mean, std, *, in_channels: int | None = None):
        super().__init__()
        if in_channels is None:
            in_channels = len(mean) if isinstance(mean, Sequence) and not isinstance(mean, str) else 1
        in_channels = _positive_int(in_channels, "in_channels")
        mean = _per_channel(mean, in_channels, "mean", 0.0)
        std = _per_channel(std, in_channels, "std", 1.0)
        if min(std) <= 0:
            raise ValueError(f"std must be > 0, got {std!r}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(in_channels, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(in_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class SmallCNN(nn.Module):
    """The Carlini-Wagner MNIST CNN: four 3x3 convolutions, two max-pools, three linear layers.

    ``conv(w)-conv(w)-pool-conv(2w)-conv(2w)-pool-fc200-fc200-fc(num_classes)``, ReLU after every
    hidden layer, no padding, no BatchNorm and no dropout (so train and eval mode compute the same
    function). Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017.

    At 28x28x1 and ``width=32``: 312,202 parameters and about 10 M multiply-adds per image (most in
    the second convolution). Measured on one CPU thread with Adam (lr 1e-3, batch 128, no
    augmentation): about 65 s per Fashion-MNIST epoch, 89.8% test accuracy after 3 epochs and
    91.5% after 5.

    Parameters
    ----------
    in_channels : int
    num_classes : int
    image_size : int
        Height and width of the (square) input, >= 16.
    width : int
        Channels of the first two convolutions (the last two have ``2 * width``).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, width: int = 32):
        super().__init__()
        in_channels = _positive_int(in_channels, "in_channels")
        num_classes = _positive_int(num_classes, "num_classes")
        image_size = _positive_int(image_size, "image_size")
        width = _positive_int(width, "width")
        if image_size < 16:
            raise ValueError(f"image_size must be >= 16 for SmallCNN, got {image_size!r}")
        side = ((image_size - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3), nn.ReLU(),
            nn.Conv2d(width, width, 3), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * side * side, 200), nn.ReLU(),
            nn.Linear(200, 200), nn.ReLU(),
            nn.Linear(200, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a (projected) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """PreAct ResNet-18 (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016).

    The CIFAR variant of Wong et al. ("Fast is better than free", ICLR 2020) and Rice et al.
    ("Overfitting in adversarially robust deep learning", ICML 2020): a stride-1 3x3 stem, four
    stages of two blocks with 64-128-256-512 channels (strides 1, 2, 2, 2), BN-ReLU, global average
    pooling and a linear layer. The pooling is adaptive, so 64x64 TinyImageNet inputs work too
    (at 32x32 it equals the reference ``avg_pool2d(out, 4)``).

    11,172,170 parameters for 10 classes (the final BN-ReLU of Wong et al. adds 1,024 to the
    11,171,146 of the kuangliu CIFAR PreActResNet18); about 0.56 G multiply-adds per 32x32 image.
    Contains BatchNorm: attack it in eval mode (:class:`ior.models.image_classifier.ImageClassifier`
    does so).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        num_classes = _positive_int(num_classes, "num_classes")
        in_channels = _positive_int(in_channels, "in_channels")
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(64, stride=1)
        self.layer2 = self._make_layer(128, stride=2)
        self.layer3 = self._make_layer(256, stride=2)
        self.layer4 = self._make_layer(512, stride=2)
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, stride: int) -> nn.Sequential:
        blocks = []
        for block_stride in (stride, 1):
            blocks.append(PreActBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class WideBasicBlock(nn.Module):
    """The WideResNet basic block (BN-ReLU-conv-BN-ReLU-[dropout]-conv), RobustBench's layout."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.dropout = float(dropout)
        self.equal_in_out = in_planes == out_planes and stride == 1
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(
            in_planes, out_planes, 1, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # When the shapes differ, the shortcut also starts from the pre-activated input.
        activated = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(activated)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        out = self.conv2(out)
        shortcut = x if self.equal_in_out else self.convShortcut(activated)
        return shortcut + out


class _WideStage(nn.Module):
    def __init__(self, n_blocks: int, in_planes: int, out_planes: int, stride: int, dropout: float):
        super().__init__()
        self.layer = nn.Sequential(*[
            WideBasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, dropout)
            for i in range(n_blocks)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WideResNet-depth-k (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016).

    The RobustBench / AutoAttack layout: a 16-channel 3x3 stem, three stages of ``(depth - 4) / 6``
    blocks with ``16k, 32k, 64k`` channels (strides 1, 2, 2), BN-ReLU, global average pooling
    (adaptive, so 64x64 inputs work) and a linear layer. WRN-28-10 has 36,479,194 parameters for
    10 classes and about 5.2 G multiply-adds per 32x32 image: too slow to train on a CPU, included
    to load and audit published checkpoints.

    Parameters
    ----------
    depth : int
        ``depth - 4`` must be a positive multiple of 6 (10, 16, 22, 28, 34, ...).
    widen_factor : int
    num_classes : int
    dropout : float
        Dropout between the two convolutions of each block, in [0, 1).
    in_channels : int
    """

    def __init__(self, depth: int = 28, widen_factor: int = 10, num_classes: int = 10,
                 dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        depth = _positive_int(depth, "depth")
        widen_factor = _positive_int(widen_factor, "widen_factor")
        num_classes = _positive_int(num_classes, "num_classes")
        in_channels = _positive_int(in_channels, "in_channels")
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
            raise TypeError(f"dropout must be a number, got {type(dropout).__name__}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        n = (depth - 4) // 6
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, stride=1, padding=1, bias=False)
        self.block1 = _WideStage(n, channels[0], channels[1], 1, dropout)
        self.block2 = _WideStage(n, channels[1], channels[2], 2, dropout)
        self.block3 = _WideStage(n, channels[2], channels[3], 2, dropout)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


#: Architecture name -> constructor. Options given to :func:`build_image_model` override the
#: defaults (``"wrn-28-10"`` with ``depth=10, widen_factor=1`` is a tiny WRN for tests).
ARCHITECTURES = {
    "cnn": SmallCNN,
    "preact-resnet18": PreActResNet18,
    "wrn-28-10": WideResNet,
}


def build_image_model(arch: str, *, num_classes: int, in_channels: int, image_size: int,
                      mean=None, std=None, **options) -> nn.Sequential:
    """Build ``Normalize(mean, std)`` followed by a registered network, on [0, 1] pixels.

    Parameters
    ----------
    arch : str
        A key of :data:`ARCHITECTURES`.
    num_classes, in_channels, image_size : int
        Output classes, input channels and the (square) input side.
    mean, std : float or sequence of float, optional
        Per-channel normalisation (usually the training set's); identity (0 and 1) when omitted.
        They are buffers, so they are saved with and restored from the weights.
    **options
        Architecture-specific constructor arguments (``width``; ``depth``, ``widen_factor``,
        ``dropout``).

    Returns
    -------
    torch.nn.Sequential
        With two named children, ``normalize`` and ``net``; maps [N, C, H, W] to [N, num_classes].

    Examples
    --------
    >>> import torch
    >>> model = build_image_model("cnn", num_classes=10, in_channels=1, image_size=28)
    >>> tuple(model(torch.zeros(2, 1, 28, 28)).shape)
    (2, 10)
    """
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a str, got {type(arch).__name__}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    cls = ARCHITECTURES[arch]
    in_channels = _positive_int(in_channels, "in_channels")
    image_size = _positive_int(image_size, "image_size")
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - accepted - {"num_classes", "in_channels", "image_size"})
    if unknown:
        allowed = sorted(accepted - {"num_classes", "in_channels", "image_size"})
        raise ValueError(f"unknown option(s) {unknown} for arch {arch!r}; it accepts {allowed}")
    kwargs = dict(options, num_classes=num_classes, in_channels=in_channels)
    if "image_size" in accepted:
        kwargs["image_size"] = image_size
    net = cls(**kwargs)
    normalize = Normalize(mean, std, in_channels=in_channels)
    return nn.Sequential(OrderedDict(normalize=normalize, net=net))
