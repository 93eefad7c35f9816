"""Send and re-send the "your export is ready" email of a payments platform.

Layers, innermost first: ``domain`` (rules, standard library only), ``application``
(use cases: the API a host service calls), ``adapters`` (memory, console, HTTP), and the
composition root (``container``, ``main``, ``cli``) that wires them together.
"""

__version__ = "0.1.0"
