"""Packed rows: how the sandbox keeps tens of millions of email events and page views."""

from __future__ import annotations

import json

from sandbox.hubspot.packed import Packer, field_of, unpack


def _open_event(n: int, recipient: str) -> dict[str, object]:
    return {
        "id": f"0000000{n}-aaaa-bbbb-cccc-dddddddddddd",
        "created": 1_700_000_000_000 + n,
        "type": "OPEN",
        "recipient": recipient,
        "browser": {"name": "Chrome", "family": "Chrome", "version": []},
        "location": {"country": "JP", "state": "Tokyo", "city": "Tokyo"},
    }


def test_a_packed_record_unpacks_to_an_equal_dict_in_the_same_key_order() -> None:
    packer = Packer()
    record = _open_event(1, "ann@example.com")
    unpacked = unpack(packer.pack(record))
    assert unpacked == record
    assert json.dumps(unpacked) == json.dumps(record)  # key order is the wire order


def test_repeated_values_and_shapes_are_stored_once_ids_are_not_shared() -> None:
    packer = Packer()
    first = packer.pack(_open_event(1, "ann@example.com"))
    second = packer.pack(json.loads(json.dumps(_open_event(2, "ann@example.com"))))  # new objects
    assert first[0] is second[0]  # one key tuple per shape
    position = {key: n + 1 for n, key in enumerate(first[0])}
    for shared in ("type", "recipient", "browser", "location"):
        assert first[position[shared]] is second[position[shared]]
    assert first[position["id"]] != second[position["id"]]
    assert len(packer._strings) == 2  # "OPEN" and the recipient, not the ids


def test_field_of_reads_one_value_and_a_default_for_a_missing_key() -> None:
    row = Packer().pack({"id": "x", "eventType": "e_visited_page"})
    assert field_of(row, "eventType") == "e_visited_page"
    assert field_of(row, "objectType", "contact") == "contact"
