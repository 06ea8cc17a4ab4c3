"""hipbench: a benchmark harness for continual learning and knowledge editing with adapters."""
__version__ = "0.1.0"
