"""CRM adapters: one addon per remote system (``adapters.onec``, ``adapters.generic_rest``)."""
