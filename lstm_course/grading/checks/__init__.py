"""The judge's checks, one module per graded notebook (named like the notebook).

Each module defines ``FUNCTIONS`` (the graded functions, in notebook order), ``NO_PYTORCH_LSTM`` (those that must
not call PyTorch's LSTM), optionally ``NO_AUTOGRAD`` (those that must not use autograd: ``backward``),
``make_inputs(generator)`` (judge), ``run(function, namespace, inputs, device)`` (the probe, in the student's
kernel) and ``verdict(function, inputs, results)`` (judge). The same module is imported on
both sides, so the inputs the probe reads and the results the verdict expects cannot drift apart.
"""
