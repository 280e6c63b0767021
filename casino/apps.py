from django.apps import AppConfig


class CasinoConfig(AppConfig):
    name = "casino"
    verbose_name = "Platform (idempotency, audit log)"

    def ready(self) -> None:
        # django-prometheus creates its HTTP metrics lazily, on the first request,
        # and not thread-safely: threads racing on that first request register
        # them twice. Create them now, while only one thread runs.
        from django_prometheus.middleware import Metrics

        from casino import checks, schema  # noqa: F401  (registers system checks, schema extensions)

        Metrics.get_instance()
