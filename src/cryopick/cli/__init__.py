"""The ``cryopick`` command: RELION's flag names in front of cryopick's library."""
