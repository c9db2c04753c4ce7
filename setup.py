"""Build hook for the one compiled module, ``aki._lane`` (the GET lane, see its source).

Everything else is in pyproject.toml. The extension is optional: where no C compiler
is at hand the build goes on without it and aki serves every read on the Python road.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("aki._lane", ["src/aki/_lane.c"], optional=True)])
