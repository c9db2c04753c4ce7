"""Build hook for the compiled modules: ``aki._lane`` (the lane) and ``aki._walbuf``
(one pwrite per WAL commit); see their sources.

Everything else is in pyproject.toml. Both are optional: where no C compiler is at
hand the build goes on without them, aki serves every request on the Python road and
SQLite writes its WAL frames itself.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("aki._lane", ["src/aki/_lane.c"], optional=True),
    Extension("aki._walbuf", ["src/aki/_walbuf.c"], optional=True),
])
