"""`python -m kb`: as the `kb` command."""

import os
import sys

# `python -m` puts the current folder first on the import path, so a vault holding a `yaml.py`
# would run it when kb imports PyYAML: kb imports nothing from there.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from kb.cli import main  # noqa: E402

main()
