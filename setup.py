"""Map the top-level folders onto the ``vidsleuth.*`` namespace.

The repository keeps ``agent/ tools/ memory/ graphs/ evals/`` at its root (the folders show the
architecture), but nothing called ``agent`` or ``tools`` may land in site-packages, so each folder
is installed as ``vidsleuth.<folder>``.  Sub-packages are found here so nobody has to list them.
"""

from setuptools import find_packages, setup

FOLDERS = ("agent", "tools", "memory", "graphs", "evals")

packages = ["vidsleuth"]
package_dir = {"vidsleuth": "vidsleuth"}
for folder in FOLDERS:
    packages.append(f"vidsleuth.{folder}")
    package_dir[f"vidsleuth.{folder}"] = folder
    for sub in find_packages(folder):
        packages.append(f"vidsleuth.{folder}.{sub}")

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "vidsleuth.evals": ["tasks/**/*.yaml", "tasks/**/*.json"],
        "vidsleuth.tools": ["**/*.json", "retrieval/checkpoints/*", "retrieval/README.md"],
    },
    include_package_data=True,
)
