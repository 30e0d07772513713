"""All models, importable from one place (`from models import Product`).

One module per aggregate: catalog, content, users, orders, stock, cart, payments, audit, jobs.
"""

from models.audit import AuditLog
from models.base import utcnow
from models.cart import Cart, CartItem
from models.catalog import Availability, Category, ImageStatus, Product, ProductImage
from models.content import ShopPage, ShopSetting
from models.jobs import DeliveryStatus, EmailDelivery, JobError
from models.notifications import StockNotification, StockNotificationStatus
from models.orders import (
    Order,
    OrderEvent,
    OrderItem,
    OrderStatus,
    OrderVatLine,
    Refund,
    RefundStatus,
)
from models.payments import LocalCheckoutSession, StripeEvent
from models.pricing import PriceChange, PriceChangeKind
from models.stock import MovementReason, ReservationStatus, StockMovement, StockReservation
from models.users import Address, Role, User, UserSession

__all__ = [
    "Address",
    "AuditLog",
    "Availability",
    "Cart",
    "CartItem",
    "Category",
    "DeliveryStatus",
    "EmailDelivery",
    "ImageStatus",
    "JobError",
    "MovementReason",
    "LocalCheckoutSession",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OrderStatus",
    "OrderVatLine",
    "PriceChange",
    "PriceChangeKind",
    "Product",
    "ProductImage",
    "Refund",
    "RefundStatus",
    "ReservationStatus",
    "ShopPage",
    "ShopSetting",
    "Role",
    "StockMovement",
    "StockNotification",
    "StockNotificationStatus",
    "StockReservation",
    "StripeEvent",
    "User",
    "UserSession",
    "utcnow",
]
