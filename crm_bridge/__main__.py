"""``python -m crm_bridge`` is the ``crm-bridge`` command."""

from crm_bridge.cli import main

main()
