"""Server-rendered pages of the accounts app for players (not the JSON API):
mounted at ``/account/`` by ``casino/urls.py``."""

from django.urls import path

from accounts import password_set

app_name = "accounts"

urlpatterns = [
    path("password/<str:uidb64>/<str:token>/", password_set.password_set, name="password_set"),
]
