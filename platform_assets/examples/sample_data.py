"""Sample data for the demo: customers (CSV snapshots), orders (JSON-lines increments) and ledger (CSV snapshots
of a product under review).

``write_round(landing, round_number)`` makes the landing folders look as they do
after that round: round 1 is the first delivery; round 2 changes, removes and
adds customers and adds a new orders file.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

CUSTOMERS_PER_FILE = 50


def _customers(file_index: int, round_number: int) -> list[dict[str, str]]:
    rows = []
    for offset in range(CUSTOMERS_PER_FILE):
        number = file_index * CUSTOMERS_PER_FILE + offset
        if round_number >= 2 and number % 25 == 7:
            continue  # removed in round 2
        amount = f"{(number * 37) % 10000 / 100:.2f}"
        if round_number >= 2 and number % 10 == 3:
            amount = f"{(number * 41) % 10000 / 100 + 1:.2f}"  # changed in round 2
        updated = date(2026, 1, 1) + timedelta(days=number % 300 + (round_number - 1) * 30 * (number % 10 == 3))
        rows.append(
            {"id": f"c{number:05d}", "name": f"Customer {number}", "amount": amount, "updated": updated.isoformat()}
        )
    return rows


def write_customers(folder: Path, round_number: int) -> None:
    files = 3 if round_number == 1 else 4
    folder.mkdir(parents=True, exist_ok=True)
    for file_index in range(files):
        path = folder / "region" / f"part-{file_index}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = _customers(file_index, round_number)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "name", "amount", "updated"])
            writer.writeheader()
            writer.writerows(rows)


def write_orders(folder: Path, round_number: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=round_number)
    path = folder / f"orders-{round_number:03d}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for index in range(40):
            order_id = round_number * 1000 + index if index >= 5 or round_number == 1 else 1000 + index
            record = {
                "order_id": order_id,
                "customer_id": f"c{index * 3:05d}",
                "total": f"{index * 12.5 + round_number:.2f}",
                "placed_at": (start + timedelta(minutes=index)).isoformat(),
                "paid": bool(index % 2) or round_number > 1,
            }
            handle.write(json.dumps(record) + "\n")


def write_ledger(folder: Path, round_number: int) -> None:
    """One CSV of account balances; round 2 changes some and adds two accounts."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts = 20 if round_number == 1 else 22
    with (folder / "balances.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["account", "balance", "as_of"])
        writer.writeheader()
        for index in range(accounts):
            balance = index * 100 + (round_number - 1) * (index % 3) * 10
            writer.writerow(
                {"account": f"a{index:03d}", "balance": f"{balance:.2f}", "as_of": f"2026-0{round_number}-28"}
            )


def write_round(landing: Path, round_number: int) -> None:
    write_customers(landing / "customers", round_number)
    write_orders(landing / "orders", round_number)
    write_ledger(landing / "ledger", round_number)
