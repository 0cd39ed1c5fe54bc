"""Products and the atomic allocation of their version numbers."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from platform_assets.catalog.models import Product


class UnknownProduct(LookupError):
    """The catalog has no such product yet (it appears on its first sync)."""


def ensure_product(session: Session, name: str) -> Product:
    """The product row called ``name``, created if missing (race-safe)."""
    product = session.scalar(select(Product).where(Product.name == name))
    if product is not None:
        return product
    try:
        with session.begin_nested():
            product = Product(name=name, last_version=0)
            session.add(product)
            session.flush()
    except IntegrityError:
        product = session.scalar(select(Product).where(Product.name == name))
        assert product is not None
    return product


def get_product(session: Session, name: str) -> Product:
    product = session.scalar(select(Product).where(Product.name == name))
    if product is None:
        raise UnknownProduct(
            f"product {name!r} has no versions in the catalog yet; run `platform-assets sync {name}` first"
        )
    return product


def lock_product(session: Session, name: str) -> Product:
    """The product row, locked until the end of the transaction.

    PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: the transaction already holds
    the write lock (BEGIN IMMEDIATE). Everything that must see a stable source
    picture and version counter (diff, allocation) runs under this lock.
    """
    product = ensure_product(session, name)
    return session.scalars(select(Product).where(Product.id == product.id).with_for_update()).one()


def allocate_version_number(session: Session, product: Product) -> int:
    """Increment the product's counter in this transaction and return the new number.

    A rollback gives the number back, so numbers are never skipped; the row
    lock makes two concurrent allocations wait for each other, so never shared.
    """
    result = session.execute(
        update(Product)
        .where(Product.id == product.id)
        .values(last_version=Product.last_version + 1)
        .returning(Product.last_version)
    )
    number = int(result.scalar_one())
    product.last_version = number
    return number
