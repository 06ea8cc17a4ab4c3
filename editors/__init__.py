"""Built-in knowledge editors; each registers through the `hipbench.editors` entry-point group."""
