"""Triage's experiment config (v8) at the top level of prodline.yaml, or included with
`experiment: <file>`: its keys are moved into prodline's own sections before validation, and every
problem is reported under the key the user wrote.

`translate` does the moving (vocabulary.py says where each key goes, or why it is refused);
`Renames` turns a native key path back into the written one; temporal.py fills the temporal section
the way Triage does.
"""

from prodline.config.triage.renames import Origin, Renames
from prodline.config.triage.translation import translate

__all__ = ["Origin", "Renames", "translate"]
