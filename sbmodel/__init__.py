"""sbmodel: cycles, traffic and energy of DNN accelerators that exploit weight
sparsity and weight repetition (binary, ternary and signed-binary networks)."""

__version__ = "0.1.0"
