"""Sphinx configuration for the smp-keras documentation.

Build: ``.venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html``
(``make docs``). Works offline: MathJax is vendored under ``_static/mathjax``
and no intersphinx inventories are fetched.
"""

import os
import sys
from importlib import metadata

# Autodoc imports smp_keras, which imports keras: pick the backend that imports
# fastest (jax: ~3 s against ~5 s for torch or tensorflow on the 2-core CI
# machine). An explicit KERAS_BACKEND in the environment wins.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, os.path.abspath("_ext"))

# -- Project -----------------------------------------------------------------

project = "smp-keras"
author = "smp-keras developers"
copyright = "the smp-keras developers"
try:
    release = metadata.version("smp-keras")
except metadata.PackageNotFoundError:  # not installed: docs still build
    release = "0.0.0"
version = release

# -- General -----------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "smp_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_static", "_tools", "_ext", "Thumbs.db"]
templates_path: list[str] = []
nitpicky = False
# Docstrings write `name` (single backticks) for code: link it when it names
# a documented object, else show it as code (never as italics).
default_role = "py:obj"
# Sphinx would otherwise render a few characters (quotes, dashes) typographic
# inside code-like text in docstrings.
smartquotes = False

# -- MyST --------------------------------------------------------------------

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- Autodoc / autosummary / napoleon -----------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
# Keras's own docstrings (Markdown-flavoured) must not leak into our pages
# through overridden methods such as ``get_config`` or ``from_config``.
autodoc_inherit_docstrings = False
autosummary_generate = True
autosummary_imported_members = False

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

# Read by docs/_ext/smp_docs.py: one API page per public module of these
# packages, generated into api/generated/ from each package's ``__all__``.
smp_api_packages = ["smpcore", "smp_keras"]
smp_api_outdir = "api/generated"
smp_api_order = [
    "smpcore.masks",
    "smpcore.allocation",
    "smpcore.schedules",
    "smpcore.regularizers",
    "smpcore.heads",
    "smpcore.artifacts",
    "smpcore.report",
    "smp_keras.ops",
    "smp_keras.layers",
    "smp_keras.transform",
    "smp_keras.callbacks",
    "smp_keras.objective",
    "smp_keras.model_utils",
    "smp_keras.bert",
    "smp_keras.data",
    "smp_keras.api",
    "smp_keras.cli",
]

# -- Math: vendored MathJax 3 (Apache-2.0), see _static/mathjax/README.txt ---

mathjax_path = "mathjax/tex-chtml.js"

# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"smp-keras {release}"
html_static_path = ["_static"]
html_theme_options = {"navigation_with_keys": True}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
