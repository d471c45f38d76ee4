"""Build hook: compile apsim's request path with Cython where a C compiler is available.

The metadata lives in pyproject.toml. The modules in ``apsim._engine.COMPILED_MODULES``
stay plain Python source; Cython compiles them (with the C types declared in the
``.pxd`` file beside each) into extension modules that Python imports instead of
the source. Every extension is optional: without a compiler, or with
``APSIM_PURE_BUILD=1``, the package installs and runs as pure Python, with the same
results, only slower.
"""

import os
import runpy

from setuptools import Extension, setup

# The list lives in apsim/_engine.py (read without importing the package, which is
# not installed yet while this runs).
COMPILED = tuple(m.replace(".", "/") + ".py"
                 for m in runpy.run_path("apsim/_engine.py")["COMPILED_MODULES"])


def ext_modules() -> list:
    """The optional Cython extensions (none when Cython is missing or a pure build is asked for)."""
    if os.environ.get("APSIM_PURE_BUILD", "").strip() not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    exts = [Extension(p[:-3].replace("/", "."), [p], optional=True) for p in COMPILED]
    return cythonize(exts, language_level=3, quiet=True,
                     compiler_directives={"binding": True, "embedsignature": True,
                                          # Only the .pxd files declare C types; the
                                          # annotations stay documentation.
                                          "annotation_typing": False})


setup(ext_modules=ext_modules())
