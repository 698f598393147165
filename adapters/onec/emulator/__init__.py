"""A faithful 1C:CRM emulator: the 1C standard OData interface over real HTTP.

Used by ``crm-bridge demo`` (in-process), ``crm-bridge emulator --port 8080``
(standalone) and the integration tests. Its schema is parsed from an EDMX
(``data/metadata.edmx``), its data is seeded deterministically, and its answers follow
the behaviour of real 1C bases documented in ``shared/onec/INTERFACE.md``. See README.md.
"""

from __future__ import annotations

from .emulator import Emulator, PortInUse
from .errors import ODataError
from .faults import Fault
from .generator import SeedSummary

__all__ = ["Emulator", "Fault", "ODataError", "PortInUse", "SeedSummary"]
