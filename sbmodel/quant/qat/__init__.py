"""Quantisation-aware training in NumPy: the trained digits example behind workloads/digits_*.yaml.

:mod:`.layers` (conv / BN / FC with hand-written backward passes), :mod:`.model`
(a small ResNet with quantised block convs), :mod:`.train` (Adam, evaluation),
:mod:`.digits` (``python -m sbmodel.quant.qat.digits``: train, save, export).
"""
