"""`python -m storage.migrations "message"`: write the next schema revision (see storage.schema)."""

from __future__ import annotations

from storage.schema import main

main()
