"""make-onnx-seeds.py DIR - small ONNX models exported by PyTorch (tests/fuzz/corpus/onnx/):
an MLP (Gemm), one with MatMul + Add, a CNN (Conv, MaxPool, Flatten) and a residual net
(BatchNormalization, Add, GlobalAveragePool). Debian's python3-torch; CPU."""
import os
import sys

import torch
import torch.nn as nn

out = sys.argv[1]
torch.manual_seed(1)


class MatMulNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 10))
        self.b = nn.Parameter(torch.randn(10))

    def forward(self, x):
        return torch.flatten(x, 1) @ self.w + self.b


class Res(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        y = nn.functional.adaptive_avg_pool2d(y + self.conv(x), 1)
        return torch.softmax(self.fc(torch.flatten(y, 1)), 1)


nets = {
    "mlp": (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 3)), (1, 1, 4, 4), 13),
    "matmul": (MatMulNet(), (1, 1, 4, 4), 9),
    "cnn": (nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8, 3)), (1, 1, 8, 8), 17),
    "res": (Res(), (1, 1, 4, 4), 11),
}
for name, (net, shape, opset) in nets.items():
    net.eval()
    torch.onnx.export(net, torch.zeros(shape), os.path.join(out, name + ".onnx"), opset_version=opset,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
