"""lenet_viz: watch, pause and dissect the training of the PyTorch tutorial's LeNet."""

__version__ = "0.1.0"
