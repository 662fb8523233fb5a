"""The standard actions (``std.*``), one module per family.

- :mod:`levante.actions.std.basic`: ``std.noop``, ``std.async_noop``, ``std.echo``, ``std.fail``,
  ``std.sleep``, ``std.test_dict``;
- :mod:`levante.actions.std.http`: ``std.http``, ``std.mistral_http``;
- :mod:`levante.actions.std.mail`: ``std.email``.

They are declared as entry points of the group ``levante.actions`` in ``setup.cfg``; this package
imports nothing itself, so ``requests`` and ``smtplib`` load only when their actions are used.
"""
