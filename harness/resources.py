"""Files that ship inside the package, found with ``importlib.resources``.

    device_script("litert_runner.py") -> Path   # a real file, to push or read

The scripts live in ``device_scripts/`` at the top of the repo and ship as the package
``harness.device_scripts`` (see pyproject.toml), so the same lookup works in a checkout, an
editable install and a wheel. Nothing here depends on where the source tree is.
"""

from __future__ import annotations

import atexit
import functools
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

from harness.errors import HarnessError

SCRIPTS_PACKAGE = "harness.device_scripts"

# Files extracted by as_file (only when harness is installed zipped) live until the process exits.
_EXTRACTED = ExitStack()
atexit.register(_EXTRACTED.close)


@functools.cache
def device_script(name: str) -> Path:
    """The device script ``name`` as a file on this host.

    Raises HarnessError when the installed package lacks it.
    """
    try:
        resource = resources.files(SCRIPTS_PACKAGE).joinpath(name)
        present = resource.is_file()
    except ModuleNotFoundError:
        present = False
    if not present:
        raise HarnessError(f"the device script {name} is missing from the installed package {SCRIPTS_PACKAGE}; "
                           "reinstall harness (make setup in a checkout, else pip install --force-reinstall harness).")
    return _EXTRACTED.enter_context(resources.as_file(resource))
