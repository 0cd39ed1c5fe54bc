"""The catalog service's SQL, one module per concern; only :class:`platform_assets.catalog.service.Catalog` calls it.

Each function works inside the caller's session (one transaction per service
call) on a :class:`~platform_assets.catalog.records.ProductRef`:

- ``products``: product rows, their lock and version numbering
- ``sources``: the catalog's picture of the source, listing pages, version registration
- ``versions``: version rows, status changes, resolution queries, exclusion
- ``files``: raw files: capture outcomes, figures, failed files, skips, settling
- ``claims``: processing claims, leases and outcomes
- ``workers``: the processes behind lease owners; which holders are gone
- ``runs``: the ``runs`` table
- ``schemas``: schema versions of products, and which one each version was processed under
- ``drift``: how processed files' columns differed from the product's (``schema.evolution``)
- ``audit``: audit events (every state change writes one in its transaction)

A new concern (review and approval, the audit hash chain, reconciliation,
retention, schema versions) gets its own module here and its methods on the
service.
"""
