"""Front-end files from node_modules/: only the declared ones are static files.

``settings.ARGUSLM_VENDOR_FILES`` lists the files, relative to ``settings.ARGUSLM_VENDOR_DIR``
(node_modules/), that the pages load as ``{% static 'vendor/<file>' %}``. ``VendorFinder``
finds exactly those for collectstatic, findstatic and WhiteNoise (with or without autorefresh),
so no other file of any npm package is served. Its ``check()`` runs with Django's staticfiles
checks (``manage.py check``, ``migrate``, ``collectstatic``) and fails when one is missing.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor"


def vendor_dir() -> Path:
    return Path(settings.ARGUSLM_VENDOR_DIR)


def vendor_files() -> list[str]:
    return list(settings.ARGUSLM_VENDOR_FILES)


class VendorFinder(BaseFinder):
    """Finds ``vendor/<file>`` for each declared file that exists, and nothing else."""

    def check(self, **kwargs) -> list[Error]:
        root = vendor_dir()
        return [
            Error(
                f"The front-end file {root / name} is missing (served as "
                f"static/{PREFIX}/{name}), so the pages that load it break.",
                hint="Run `npm install` in the project directory (`make install` does).",
                obj="arguslm.staticfiles.VendorFinder",
                id="arguslm.E001",
            )
            for name in vendor_files()
            if not (root / name).is_file()
        ]

    # RemovedInDjango61Warning: ``**kwargs`` only carries the deprecated ``all``.
    def find(self, path, find_all=False, **kwargs):
        if kwargs:
            find_all = self._check_deprecated_find_param(find_all=find_all, **kwargs)
        root = vendor_dir()
        if str(root) not in finders.searched_locations:
            finders.searched_locations.append(str(root))
        # Like Django's finders: the path (or a list of one) when found, else an empty list.
        if path.startswith(PREFIX + "/"):
            name = path[len(PREFIX) + 1 :]
            if name in vendor_files() and (root / name).is_file():
                return [str(root / name)] if find_all else str(root / name)
        return []

    def list(self, ignore_patterns):
        storage = FileSystemStorage(location=vendor_dir())
        storage.prefix = PREFIX  # collectstatic and WhiteNoise put the files under vendor/
        for name in vendor_files():
            if storage.exists(name):
                yield name, storage
