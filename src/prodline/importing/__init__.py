"""`prodline import-triage`: a Triage experiment config (v8) written out as a prodline project.

The config's sections are translated into prodline's native ones (`config.triage`), its cohort and
label SQL written as files beside prodline.yaml, and every table its SQL reads declared as a source
observed in the warehouse (`arrival: warehouse`), its columns read from PostgreSQL when a database is
given. The project is then validated twice: in Triage's terms (each problem under the key the team
wrote) and as written; the report names every key of the input and what became of it.
"""

from prodline.importing.importer import Imported, import_triage

__all__ = ["Imported", "import_triage"]
