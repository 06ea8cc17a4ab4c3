"""Built-in adapter methods; each registers through the `hipbench.methods` entry-point group."""
