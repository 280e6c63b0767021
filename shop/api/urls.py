from django.urls import path

from shop.api import views

urlpatterns = [
    path("shop/products", views.ProductsView.as_view(), name="shop-products"),
    path("shop/catalog", views.CatalogView.as_view(), name="shop-catalog"),
    path("shop/limited-packages", views.LimitedPackagesView.as_view(), name="shop-limited-packages"),
    path("shop/buy", views.BuyView.as_view(), name="shop-buy"),
    path("shop/buy-limited", views.BuyLimitedView.as_view(), name="shop-buy-limited"),
    path("shop/transactions", views.TransactionsView.as_view(), name="shop-transactions"),
    path("shop/transactions/<str:receipt>", views.TransactionDetailView.as_view(), name="shop-transaction"),
    path("shop/transactions/<str:receipt>/settle", views.SettleView.as_view(), name="shop-settle"),
    path("shop/webhook/payment", views.PaymentWebhookView.as_view(), name="shop-webhook-payment"),
]
