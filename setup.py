"""The shipped weights travel in the package (issue 32): the top-level `weights/` folder is
installed as the package `vidgen_codec._weights`, so that a plain `pip install .` (or a wheel)
finds them; everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages("src") + ["vidgen_codec._weights"],
    package_dir={"": "src", "vidgen_codec._weights": "weights"},
    package_data={"vidgen_codec._weights": ["*/config.json", "*/model.safetensors",
                                            "*/LICENSE*"]},
)
