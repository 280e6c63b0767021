"""The sandbox provider's pages, mounted at ``/sandbox/`` by ``casino/urls.py``
only while ``SHOP_PAYMENT_PROVIDER == "sandbox"`` or DEBUG is on."""

from django.urls import path

from shop import sandbox_views

app_name = "sandbox"

urlpatterns = [
    path("checkout/<str:reference>", sandbox_views.checkout, name="checkout"),
    path("checkout/<str:reference>/approve", sandbox_views.approve, name="approve"),
    path("checkout/<str:reference>/decline", sandbox_views.decline, name="decline"),
]
