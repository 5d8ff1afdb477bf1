"""The 21 weight layers of ImageNet ResNet-18 (He et al., CVPR 2016), batch 1, 224x224 input.

Names follow torchvision's ``state_dict`` (``layer2.0.downsample.0`` ...), so a
torchvision checkpoint's tensors map onto these layers by name.
"""

from __future__ import annotations

from .readers.base import LayerGeometry


def _conv(c: int, m: int, out: int, k: int, stride: int) -> LayerGeometry:
    return LayerGeometry("conv", C=c, M=m, N=1, P=out, Q=out, R=k, S=k, Wstride=stride, Hstride=stride)


def resnet18_layers() -> list[tuple[str, LayerGeometry]]:
    """(name, geometry) of conv1, the 16 block 3x3 convs, the 3 downsample 1x1 convs and fc, in order."""
    layers: list[tuple[str, LayerGeometry]] = [("conv1", _conv(3, 64, 112, 7, 2))]
    c_in, size = 64, 56
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            out = size // stride
            prefix = f"layer{stage}.{block}"
            layers.append((f"{prefix}.conv1", _conv(c_in, width, out, 3, stride)))
            layers.append((f"{prefix}.conv2", _conv(width, width, out, 3, 1)))
            if stride != 1 or c_in != width:
                layers.append((f"{prefix}.downsample.0", _conv(c_in, width, out, 1, stride)))
            c_in, size = width, out
    layers.append(("fc", LayerGeometry("fc", C=512, M=1000, N=1)))
    return layers


def is_block_conv(name: str) -> bool:
    """True for the 3x3 convs inside basic blocks (the layers signed binarization quantises)."""
    return name.startswith("layer") and ".conv" in name
