"""The URLconf of the bench's processes (``bench/settings.py``): the project's
own routes, exactly as ``casino/urls.py`` declares them, with the
bare-framework reference (``bench/bare.py``) in front under ``/bench/bare/``.
Production loads ``casino.urls`` and never this module."""

from django.urls import URLPattern, URLResolver, include, path

from casino import urls as project

# Relative: this package is also loaded as ``bench_current`` into an older checkout (bench/against.py).
from .bare import urlpatterns as bare_patterns

urlpatterns: list[URLPattern | URLResolver] = [path("bench/bare/", include(bare_patterns)), *project.urlpatterns]

# The project's error views (an older checkout may not define all four: Django's defaults then).
for _name in ("handler400", "handler403", "handler404", "handler500"):
    if hasattr(project, _name):
        globals()[_name] = getattr(project, _name)
