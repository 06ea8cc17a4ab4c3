"""`python -m hipbench` is the `hipbench` command (for environments whose scripts are not on PATH)."""
from hipbench.cli import main

main()
