"""Products and the atomic allocation of their version numbers."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from platform_assets.catalog.models import Product
from platform_assets.catalog.records import ProductRef


def find(session: Session, name: str) -> ProductRef | None:
    row = session.execute(select(Product.id).where(Product.name == name)).scalar_one_or_none()
    return None if row is None else ProductRef(row, name)


def ensure(session: Session, name: str) -> ProductRef:
    """The product called ``name``, created if missing (race-safe)."""
    found = find(session, name)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            product = Product(name=name, last_version=0)
            session.add(product)
            session.flush()
            return ProductRef(product.id, name)
    except IntegrityError:
        found = find(session, name)
        assert found is not None, "a concurrent insert of the product must be visible after its unique violation"
        return found


def lock(session: Session, name: str) -> Product:
    """The product row (created if missing), locked until the end of the transaction.

    PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: the transaction already holds
    the write lock (BEGIN IMMEDIATE). Everything that must see a stable source
    picture and version counter (diff, allocation) runs under this lock.
    """
    ref = ensure(session, name)
    return session.scalars(select(Product).where(Product.id == ref.id).with_for_update()).one()


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
