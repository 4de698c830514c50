"""Small things several panels share (panels never import each other)."""

from __future__ import annotations

#: What an autograd node does, in a learner's words; the key is the name without its version suffix.
NODE_TIPS = {
    "MseLossBackward": "Derivative of MSELoss: mean((output − target)²)",
    "NllLossBackward": "Derivative of the negative log-likelihood (the second half of cross_entropy)",
    "LogSoftmaxBackward": "Derivative of log_softmax (the first half of cross_entropy)",
    "SoftmaxBackward": "Derivative of softmax",
    "AddmmBackward": "A Linear layer: bias + input @ weight.T",
    "TBackward": "The transpose weight.T used by a Linear layer",
    "ReluBackward": "ReLU: passes the gradient where the input was positive, zero elsewhere",
    "MaxPool2DWithIndicesBackward": "Max pooling: routes each gradient to the pixel that was the maximum",
    "ConvolutionBackward": "A Conv2d layer",
    "ViewBackward": "torch.flatten: 16×5×5 feature maps reshaped into 400 values",
    "ReshapeAliasBackward": "torch.flatten: 16×5×5 feature maps reshaped into 400 values",
    "AccumulateGrad": "A leaf: adds the incoming gradient into this parameter's .grad",
}


def node_tip(name: str) -> str:
    """The learner's description of autograd node `name` ("" for one we do not describe)."""
    return NODE_TIPS.get(name.rstrip("0123456789"), "")


def shape_text(shape: tuple[int, ...] | None) -> str:
    """64×6×28×28; "scalar" for (); "shape ?" while unknown (None)."""
    if shape is None:
        return "shape ?"
    return "×".join(str(d) for d in shape) or "scalar"
