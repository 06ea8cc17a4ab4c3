"""Built-in suites; each registers through the `hipbench.suites` entry-point group."""
